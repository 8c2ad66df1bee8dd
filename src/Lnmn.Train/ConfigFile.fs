/// `lnmn-train --config FILE`: a `TrainConfig` as JSON, its fields named as the record names them
/// and written as `SpecJson` writes them (`{"Model": "StackNmn", "Epochs": 3, "ArchitectureSplit":
/// {"HeldOutOfTrain": [0.2]}}`; paths relative to where lnmn-train runs); a field left out
/// takes `Defaults.train`'s value, as an option left off the command line does. A run folder's
/// config.json is such a file (the run's settings, `forRerun`), with what the run recorded about
/// itself under `Recorded`, which reading skips.
module Lnmn.Train.ConfigFile

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Microsoft.FSharp.Reflection
open Lnmn.Core
open Lnmn.Train.Configs

/// The field of config.json that holds the run's record (commit, data, counts), not its settings.
let recordedField = "Recorded"

/// How a check names an option's field in `file`.
let label (file: string) (option: string) = $"{file}: {TrainChecks.fieldOf option}"

let private recordFields = FSharpType.GetRecordFields(typeof<TrainConfig>)

let private isOption (t: Type) = t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<option<_>>

/// What a field of type `t` holds, for an error message.
let rec private describe (t: Type) =
    if isOption t then $"{describe (t.GetGenericArguments()[0])}, or null"
    elif t = typeof<int> then "an integer"
    elif t = typeof<float> then "a number"
    elif t = typeof<bool> then "true or false"
    elif t = typeof<string> then "a string"
    elif FSharpType.IsUnion t then
        FSharpType.GetUnionCases t
        |> Array.map (fun c -> if c.GetFields().Length = 0 then $"\"{c.Name}\"" else $"{{\"{c.Name}\": [ … ]}}")
        |> String.concat ", "
        |> sprintf "one of %s"
    else t.Name

let private oneLine (text: string) = Text.RegularExpressions.Regex.Replace(text, @"\s+", " ")

/// One field's value read as its type, or a one-line error naming the file and the field.
let private field (file: string) (name: string) (t: Type) (value: JsonElement) : Result<obj, string> =
    let refused () = Error $"{file}: {name}: {oneLine (value.GetRawText())} is not {describe t}"
    try
        match JsonSerializer.Deserialize(value, t, SpecJson.options) with
        | null when not (isOption t) -> refused ()
        | read -> Ok read
    with _ -> refused ()

/// The config the file describes over `Defaults.train`, checked as the command line is, and the
/// fields it gives; a one-line error naming the file (and the field) otherwise.
let read (file: string) : Result<TrainConfig * string list, string> =
    result {
        let! text = Data.DataError.catch file (fun () -> File.ReadAllText file) |> Result.mapError Data.DataError.describe
        let! root =
            try
                use doc = JsonDocument.Parse text
                Ok(doc.RootElement.Clone())
            with :? JsonException as e -> Error $"{file}: not JSON ({oneLine e.Message})"
        do! if root.ValueKind = JsonValueKind.Object then Ok() else Error $"{file}: not a JSON object of TrainConfig's fields"
        let values = FSharpValue.GetRecordFields(Defaults.train)
        let given = [ for p in root.EnumerateObject() do if p.Name <> recordedField then p ]
        let! () =
            given
            |> List.fold
                (fun acc p ->
                    acc
                    |> Result.bind (fun () ->
                        match recordFields |> Array.tryFindIndex (fun f -> f.Name = p.Name) with
                        | None -> Error $"{file}: {p.Name}: not a field of TrainConfig"
                        | Some i -> field file p.Name recordFields[i].PropertyType p.Value |> Result.map (fun v -> values[i] <- v)))
                (Ok())
        let config = FSharpValue.MakeRecord(typeof<TrainConfig>, values) :?> TrainConfig
        do! TrainChecks.check (label file) config
        return config, given |> List.map (fun p -> p.Name)
    }

/// A run's config as its folder records it for `--config` to run it again: paths made absolute, and
/// nothing of where or how this run ran (its folder, --resume, --dry-run).
let forRerun (config: TrainConfig) =
    { config with
        Data = config.Data |> Option.map Path.GetFullPath
        FineTuneFrom = config.FineTuneFrom |> Option.map Path.GetFullPath
        AlphaPreset = config.AlphaPreset |> Option.map (function GenotypeFile p -> GenotypeFile(Path.GetFullPath p) | start -> start)
        RunDir = None
        Resume = false
        DryRun = false }

/// config.json's text: the config's fields and, under `Recorded`, the run's record.
let write (config: TrainConfig) (recorded: 'R) =
    let node = JsonSerializer.SerializeToNode(config, SpecJson.options).AsObject()
    node[recordedField] <- JsonSerializer.SerializeToNode(recorded, SpecJson.options)
    node.ToJsonString SpecJson.options
