/// JSON for specs and configs (FSharp.SystemTextJson): fieldless union cases as plain strings,
/// other cases as `{"Case": fields}`.
module Lnmn.Core.SpecJson

open System.Text.Json
open System.Text.Json.Serialization

let options =
    let o = JsonSerializerOptions(WriteIndented = true)
    let encoding = JsonUnionEncoding.ExternalTag ||| JsonUnionEncoding.UnwrapFieldlessTags ||| JsonUnionEncoding.UnwrapOption
    o.Converters.Add(JsonFSharpConverter(encoding))
    o

let serialize<'T> (value: 'T) = JsonSerializer.Serialize(value, options)

let deserialize<'T> (json: string) : 'T = JsonSerializer.Deserialize<'T>(json, options)
