/// Streams the items of one top-level array (`{"questions": [ {...}, {...} ]}`) from a JSON file
/// without building the whole document: a byte scanner finds each item, and only that item is
/// parsed into a JsonDocument.
module Lnmn.Core.Data.JsonStream

open System
open System.IO
open System.Text
open System.Text.Json

/// What one item of the array is called in error messages ("question", "scene").
type ItemKind = string

/// How deep an item may nest: System.Text.Json's default, which parses each item.
let maxDepth = 64

let private isSpace (b: byte) = b = 32uy || b = 10uy || b = 13uy || b = 9uy

/// Finds the items of the array under `key` in the root object, one at a time.
/// Raises DataException for truncated files, a missing key, or junk between items.
type private ItemScanner(path: string, key: string, kind: ItemKind) =
    let stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 <<< 16)
    let block = Array.zeroCreate<byte> (1 <<< 20)
    let item = new MemoryStream()
    let keyBytes = Encoding.UTF8.GetBytes key
    let lastString = new MemoryStream()
    let mutable position = 0
    let mutable length = 0
    let mutable depth = 0
    let mutable inString = false
    let mutable escape = false
    let mutable capturingString = false
    let mutable inTarget = false
    let mutable inItem = false
    let mutable notAnObject = false
    let mutable found = false
    let mutable count = 0
    let mutable started = false
    let mutable finished = false
    let fail location message = DataError.fail path location message

    let checkEnd () =
        if inItem then fail (Some $"{kind} {count}") "truncated JSON (the file ends inside this item)"
        if not started then fail None "empty file"
        if depth <> 0 || inString then fail None "truncated JSON (the file ends before the root object closes)"
        if not found then fail None $"no \"{key}\" array in the root object"

    /// The next item's bytes, or None at the end of the file.
    member _.Next() : byte[] option =
        let mutable result = None
        while result.IsNone && not finished do
            if position >= length then
                length <- stream.Read(block, 0, block.Length)
                position <- 0
                if length = 0 then
                    finished <- true
                    checkEnd ()
            while result.IsNone && position < length do
                let b = block[position]
                if inString then
                    if escape then escape <- false
                    elif b = '\\'B then escape <- true
                    elif b = '"'B then
                        inString <- false
                        capturingString <- false
                    if capturingString then lastString.WriteByte b
                else
                    if not started && not (isSpace b) then
                        if b <> '{'B then fail None "the root of the file is not a JSON object"
                        started <- true
                    match b with
                    | '"'B ->
                        if inTarget && depth = 2 && not inItem then fail (Some $"{kind} {count}") "is not a JSON object"
                        inString <- true
                        if depth = 1 then
                            capturingString <- true
                            lastString.SetLength 0L
                    | '{'B | '['B ->
                        if inTarget && depth = 2 then
                            // Not failed yet: an item of arrays nested past the limit says so instead.
                            notAnObject <- b <> '{'B
                            inItem <- true
                            item.SetLength 0L
                        if inItem && depth - 2 >= maxDepth then
                            fail (Some $"{kind} {count}") $"nested more than {maxDepth} levels deep (the limit)"
                        if depth = 1 && b = '['B && not found then
                            let s = lastString.ToArray()
                            if s.AsSpan().SequenceEqual(keyBytes) then
                                inTarget <- true
                                found <- true
                        depth <- depth + 1
                    | '}'B | ']'B ->
                        depth <- depth - 1
                        if depth < 0 then fail None "invalid JSON: unbalanced brackets"
                        if inTarget && depth = 2 && inItem then
                            if notAnObject then fail (Some $"{kind} {count}") "is not a JSON object"
                            inItem <- false
                            item.WriteByte b
                            result <- Some(item.ToArray())
                            count <- count + 1
                        elif inTarget && depth = 1 then inTarget <- false
                    | _ ->
                        if inTarget && depth = 2 && not inItem && not (isSpace b) && b <> ','B then
                            fail (Some $"{kind} {count}") $"invalid JSON: unexpected '{char b}' between items"
                if inItem then item.WriteByte b
                position <- position + 1
        result

    interface IDisposable with
        member _.Dispose() = stream.Dispose()

/// The items of the array under `key` in the root object, each as (position, raw JSON bytes).
let rawItems (path: string) (key: string) (kind: ItemKind) : seq<int * byte[]> =
    seq {
        use scanner = new ItemScanner(path, key, kind)
        let mutable next = scanner.Next()
        let mutable index = 0
        while next.IsSome do
            yield index, next.Value
            index <- index + 1
            next <- scanner.Next()
    }

/// Parses each raw item; `convert` reads one item (raising DataException for bad fields).
let items (path: string) (key: string) (kind: ItemKind) (convert: int -> JsonElement -> 'T) : seq<'T> =
    rawItems path key kind
    |> Seq.map (fun (index, bytes) ->
        let document =
            try
                JsonDocument.Parse(ReadOnlyMemory bytes)
            with :? JsonException as e ->
                let reason = e.Message.Split('.')[0]
                DataError.fail path (Some $"{kind} {index}") $"invalid JSON: {reason}"
        use _ = document
        convert index document.RootElement)

/// Field readers that name the file, item and field when something is missing or mistyped.
type FieldReader(path: string, location: string) =
    member _.Fail(message: string) : 'T = DataError.fail path (Some location) message

    member this.TryGet(element: JsonElement, name: string) =
        match element.TryGetProperty name with
        | true, v when v.ValueKind <> JsonValueKind.Null -> Some v
        | _ -> None

    member this.Get(element: JsonElement, name: string) =
        match this.TryGet(element, name) with
        | Some v -> v
        | None -> this.Fail $"missing field '{name}'"

    member this.AsString(v: JsonElement, name: string) =
        if v.ValueKind = JsonValueKind.String then v.GetString() else this.Fail $"field '{name}' should be a string"

    member this.AsInt(v: JsonElement, name: string) =
        match v.ValueKind with
        | JsonValueKind.Number ->
            match v.TryGetInt32() with
            | true, i -> i
            | _ -> this.Fail $"field '{name}' should be an integer"
        | _ -> this.Fail $"field '{name}' should be an integer"

    member this.AsFloat(v: JsonElement, name: string) =
        if v.ValueKind = JsonValueKind.Number then v.GetDouble() else this.Fail $"field '{name}' should be a number"

    member this.AsArray(v: JsonElement, name: string) =
        if v.ValueKind = JsonValueKind.Array then [ for x in v.EnumerateArray() -> x ]
        else this.Fail $"field '{name}' should be an array"

    member this.String(e, name) = this.AsString(this.Get(e, name), name)
    member this.Int(e, name) = this.AsInt(this.Get(e, name), name)
    member this.OptionalString(e, name) = this.TryGet(e, name) |> Option.map (fun v -> this.AsString(v, name))
    member this.OptionalInt(e, name) = this.TryGet(e, name) |> Option.map (fun v -> this.AsInt(v, name))
