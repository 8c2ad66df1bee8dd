/// Reading and writing CLEVR's questions and scenes JSON files (also CLEVR-Humans).
module Lnmn.Core.Data.ClevrJson

open System.IO
open System.Text.Json
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Scenes

let private readStep (fields: JsonStream.FieldReader) (stepIndex: int) (e: JsonElement) : ProgramStep =
    let name =
        match fields.TryGet(e, "function"), fields.TryGet(e, "type") with
        | Some f, _ -> fields.AsString(f, "function")
        | None, Some t -> fields.AsString(t, "type")
        | None, None -> fields.Fail $"program step {stepIndex}: missing field 'function'"
    let inputs =
        match fields.TryGet(e, "inputs") with
        | Some v -> fields.AsArray(v, "inputs") |> List.map (fun x -> fields.AsInt(x, "inputs"))
        | None -> []
    let valueInputs =
        match fields.TryGet(e, "value_inputs") with
        | Some v -> fields.AsArray(v, "value_inputs") |> List.map (fun x -> fields.AsString(x, "value_inputs"))
        | None -> []
    match Function.parse name valueInputs with
    | Error message -> fields.Fail $"program step {stepIndex}: {message}"
    | Ok f ->
        if inputs.Length <> Function.arity f then
            fields.Fail $"program step {stepIndex}: {name} takes {Function.arity f} inputs, has {inputs.Length}"
        if inputs |> List.exists (fun j -> j < 0 || j >= stepIndex) then
            fields.Fail $"program step {stepIndex}: input refers to a step that does not precede it"
        { Function = f; Inputs = inputs }

let private readQuestion (path: string) (index: int) (e: JsonElement) : Question =
    let fields = JsonStream.FieldReader(path, $"question {index}")
    if e.ValueKind <> JsonValueKind.Object then fields.Fail "is not a JSON object"
    let program =
        fields.TryGet(e, "program")
        |> Option.map (fun p -> fields.AsArray(p, "program") |> List.mapi (readStep fields))
    let imageIndex = fields.Int(e, "image_index")
    if imageIndex < 0 then fields.Fail "field 'image_index' is negative"
    { Index = index
      Text = fields.String(e, "question")
      Answer = fields.OptionalString(e, "answer")
      ImageIndex = imageIndex
      ImageFilename = fields.OptionalString(e, "image_filename") |> Option.defaultValue ""
      Program = program
      FamilyIndex = fields.OptionalInt(e, "question_family_index")
      Split = fields.OptionalString(e, "split") |> Option.defaultValue "" }

/// Streams the questions of a CLEVR (or CLEVR-Humans) questions file; memory stays flat.
/// Raises DataException on bad input (use `DataError.catch` or `readQuestionsChecked`).
let readQuestions (path: string) : seq<Question> = JsonStream.items path "questions" "question" (readQuestion path)

/// CLEVR-Humans files have the same layout, without programs; every question has an answer.
let readHumans (path: string) : seq<Question> =
    readQuestions path
    |> Seq.map (fun q ->
        if q.Answer.IsNone then DataError.fail path (Some $"question {q.Index}") "missing field 'answer'"
        q)

/// All questions of a file, or the first problem.
let readQuestionsChecked (path: string) : Result<Question[], DataError> =
    DataError.catch path (fun () -> readQuestions path |> Array.ofSeq)

let private floats (fields: JsonStream.FieldReader) (e: JsonElement) name =
    match fields.TryGet(e, name) with
    | Some v -> fields.AsArray(v, name) |> List.map (fun x -> fields.AsFloat(x, name)) |> Array.ofList
    | None -> [||]

let private readScene (path: string) (index: int) (e: JsonElement) : Scene =
    let fields = JsonStream.FieldReader(path, $"scene {index}")
    if e.ValueKind <> JsonValueKind.Object then fields.Fail "is not a JSON object"
    let objects =
        fields.AsArray(fields.Get(e, "objects"), "objects")
        |> List.mapi (fun k o ->
            let f = JsonStream.FieldReader(path, $"scene {index}, object {k}")
            let value (a: Attribute) =
                let v = f.String(o, Attribute.name a)
                if List.contains v (Attribute.values a) then v else f.Fail $"unknown {Attribute.name a} '{v}'"
            { Shape = value Shape; Color = value Color; Size = value Size; Material = value Material
              Coords = floats f o "3d_coords"; PixelCoords = floats f o "pixel_coords"
              Rotation = f.TryGet(o, "rotation") |> Option.map (fun v -> f.AsFloat(v, "rotation")) |> Option.defaultValue 0.0 })
        |> Array.ofList
    let relations =
        match fields.TryGet(e, "relationships"), fields.TryGet(e, "relations") with
        | Some r, _ | None, Some r -> r
        | None, None -> fields.Fail "missing field 'relationships'"
    let relationships =
        [ for r in Relation.all ->
            let name = Relation.name r
            let lists = fields.AsArray(fields.Get(relations, name), name)
            if lists.Length <> objects.Length then fields.Fail $"relationships '{name}' has {lists.Length} entries for {objects.Length} objects"
            r,
            [| for l in lists ->
                   fields.AsArray(l, name)
                   |> List.map (fun x ->
                       let j = fields.AsInt(x, name)
                       if j < 0 || j >= objects.Length then fields.Fail $"relationships '{name}' names object {j}, beyond the {objects.Length} objects"
                       j) |] ]
        |> Map.ofList
    { ImageIndex = fields.Int(e, "image_index")
      ImageFilename = fields.OptionalString(e, "image_filename") |> Option.defaultValue ""
      Split = fields.OptionalString(e, "split") |> Option.defaultValue ""
      Objects = objects
      Relationships = relationships }

/// Streams the scenes of a CLEVR scenes file (`relationships` or `relations`).
let readScenes (path: string) : seq<Scene> = JsonStream.items path "scenes" "scene" (readScene path)

let readScenesChecked (path: string) : Result<Scene[], DataError> =
    DataError.catch path (fun () -> readScenes path |> Array.ofSeq)

let private writeInfo (w: Utf8JsonWriter) (split: string) =
    w.WritePropertyName "info"
    w.WriteStartObject()
    w.WriteString("split", split)
    w.WriteString("version", "1.0")
    w.WriteString("license", "generated by Lnmn's built-in dataset")
    w.WriteEndObject()

let private writeJson (path: string) (body: Utf8JsonWriter -> unit) =
    AtomicFile.write path (fun temporary ->
        use stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 <<< 16)
        use w = new Utf8JsonWriter(stream)
        w.WriteStartObject()
        body w
        w.WriteEndObject()
        w.Flush())

let private writeQuestion (w: Utf8JsonWriter) (q: Question) =
    w.WriteStartObject()
    w.WriteNumber("question_index", q.Index)
    w.WriteString("question", q.Text)
    q.Answer |> Option.iter (fun a -> w.WriteString("answer", a))
    w.WriteNumber("image_index", q.ImageIndex)
    w.WriteString("image_filename", q.ImageFilename)
    q.FamilyIndex |> Option.iter (fun f -> w.WriteNumber("question_family_index", f))
    w.WriteString("split", q.Split)
    q.Program
    |> Option.iter (fun program ->
        w.WritePropertyName "program"
        w.WriteStartArray()
        for step in program do
            w.WriteStartObject()
            w.WriteString("function", Function.name step.Function)
            w.WritePropertyName "inputs"
            w.WriteStartArray()
            for i in step.Inputs do w.WriteNumberValue i
            w.WriteEndArray()
            w.WritePropertyName "value_inputs"
            w.WriteStartArray()
            for v in Function.valueInputs step.Function do w.WriteStringValue v
            w.WriteEndArray()
            w.WriteEndObject()
        w.WriteEndArray())
    w.WriteEndObject()

/// Writes a questions file in CLEVR's layout (atomically).
let writeQuestions (path: string) (split: string) (questions: seq<Question>) =
    writeJson path (fun w ->
        writeInfo w split
        w.WritePropertyName "questions"
        w.WriteStartArray()
        for q in questions do writeQuestion w q
        w.WriteEndArray())

let private writeScene (w: Utf8JsonWriter) (s: Scene) =
    let numbers (name: string) (xs: float[]) =
        w.WritePropertyName name
        w.WriteStartArray()
        for x in xs do w.WriteNumberValue(System.Math.Round(x, 4))
        w.WriteEndArray()
    w.WriteStartObject()
    w.WriteNumber("image_index", s.ImageIndex)
    w.WriteString("image_filename", s.ImageFilename)
    w.WriteString("split", s.Split)
    w.WritePropertyName "objects"
    w.WriteStartArray()
    for o in s.Objects do
        w.WriteStartObject()
        w.WriteString("shape", o.Shape)
        w.WriteString("color", o.Color)
        w.WriteString("size", o.Size)
        w.WriteString("material", o.Material)
        numbers "3d_coords" o.Coords
        numbers "pixel_coords" o.PixelCoords
        w.WriteNumber("rotation", System.Math.Round(o.Rotation, 4))
        w.WriteEndObject()
    w.WriteEndArray()
    // CLEVR's unit vectors that give `relationships` their meaning; ours: right = +x, front = +y.
    w.WritePropertyName "directions"
    w.WriteStartObject()
    for name, vector in [ "right", [| 1.0; 0.0; 0.0 |]; "left", [| -1.0; 0.0; 0.0 |]; "front", [| 0.0; 1.0; 0.0 |]
                          "behind", [| 0.0; -1.0; 0.0 |]; "above", [| 0.0; 0.0; 1.0 |]; "below", [| 0.0; 0.0; -1.0 |] ] do
        numbers name vector
    w.WriteEndObject()
    w.WritePropertyName "relationships"
    w.WriteStartObject()
    for r in Relation.all do
        w.WritePropertyName(Relation.name r)
        w.WriteStartArray()
        for l in s.Relationships[r] do
            w.WriteStartArray()
            for j in l do w.WriteNumberValue j
            w.WriteEndArray()
        w.WriteEndArray()
    w.WriteEndObject()
    w.WriteEndObject()

/// Writes a scenes file in CLEVR's layout (atomically).
let writeScenes (path: string) (split: string) (scenes: seq<Scene>) =
    writeJson path (fun w ->
        writeInfo w split
        w.WritePropertyName "scenes"
        w.WriteStartArray()
        for s in scenes do writeScene w s
        w.WriteEndArray())
