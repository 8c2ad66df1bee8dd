/// Question tokens and answers as integer ids. Token 0 pads, token 1 stands for unknown words.
module Lnmn.Core.Data.Vocabulary

open System
open System.Text.Json

let padding = "<pad>"
let unknown = "<unk>"
let paddingId = 0
let unknownId = 1

/// Lower-case words; punctuation marks are tokens of their own.
let tokenize (text: string) : string[] =
    let tokens = ResizeArray()
    let word = Text.StringBuilder()
    let flush () =
        if word.Length > 0 then
            tokens.Add(word.ToString())
            word.Clear() |> ignore
    for c in text.ToLowerInvariant() do
        if Char.IsWhiteSpace c then flush ()
        elif Char.IsPunctuation c && c <> '-' && c <> '\'' then
            flush ()
            tokens.Add(string c)
        else word.Append c |> ignore
    flush ()
    tokens.ToArray()

type Vocabulary =
    { /// Question tokens; the id of a token is its position. Starts with padding and unknown.
      Tokens: string[]
      /// Answers; the id of an answer is its position.
      Answers: string[] }

/// Tokens of the given (training) questions in order of first appearance; answers fixed.
let build (answers: string list) (questionTexts: seq<string>) : Vocabulary =
    let seen = Collections.Generic.HashSet<string>()
    let tokens = ResizeArray [ padding; unknown ]
    seen.Add padding |> ignore
    seen.Add unknown |> ignore
    for text in questionTexts do
        for t in tokenize text do
            if seen.Add t then tokens.Add t
    { Tokens = tokens.ToArray(); Answers = Array.ofList answers }

/// Adds the tokens of new questions (CLEVR-Humans fine-tuning); existing ids keep their meaning.
let extend (vocabulary: Vocabulary) (questionTexts: seq<string>) : Vocabulary =
    let seen = Collections.Generic.HashSet<string>(vocabulary.Tokens)
    let tokens = ResizeArray vocabulary.Tokens
    for text in questionTexts do
        for t in tokenize text do
            if seen.Add t then tokens.Add t
    { vocabulary with Tokens = tokens.ToArray() }

/// Where a dataset's vocabulary comes from.
type Origin =
    /// Built from the training questions.
    | FromTraining
    /// A run's saved vocabulary, used as it is.
    | Saved of Vocabulary
    /// A trained vocabulary grown by the training questions' new tokens (fine-tuning).
    | Extended of Vocabulary

/// The vocabulary `origin` names, given the training questions' texts; `build` makes a new one.
let ofOrigin (origin: Origin) (build: seq<string> -> Vocabulary) (trainingTexts: seq<string>) =
    match origin with
    | FromTraining -> build trainingTexts
    | Saved vocabulary -> vocabulary
    | Extended vocabulary -> extend vocabulary trainingTexts

/// A lookup from token to id, for encoding many questions.
let tokenIds (vocabulary: Vocabulary) =
    let d = Collections.Generic.Dictionary<string, int>()
    vocabulary.Tokens |> Array.iteri (fun i t -> d[t] <- i)
    d

let encodeWith (ids: Collections.Generic.Dictionary<string, int>) (text: string) : int[] =
    tokenize text |> Array.map (fun t -> match ids.TryGetValue t with | true, i -> i | _ -> unknownId)

let encode (vocabulary: Vocabulary) (text: string) = encodeWith (tokenIds vocabulary) text

let answerId (vocabulary: Vocabulary) (answer: string) =
    match Array.IndexOf(vocabulary.Answers, answer) with
    | -1 -> None
    | i -> Some i

let toJson (vocabulary: Vocabulary) =
    JsonSerializer.Serialize({| tokens = vocabulary.Tokens; answers = vocabulary.Answers |}, JsonSerializerOptions(WriteIndented = true))

let save (path: string) (vocabulary: Vocabulary) = AtomicFile.writeAllText path (toJson vocabulary)

let load (path: string) : Result<Vocabulary, DataError> =
    DataError.catch path (fun () ->
        let document =
            try
                JsonDocument.Parse(IO.File.ReadAllText path)
            with :? JsonException -> DataError.fail path None "invalid JSON"
        use _ = document
        let fields = JsonStream.FieldReader(path, "vocabulary")
        let strings name = fields.AsArray(fields.Get(document.RootElement, name), name) |> List.map (fun e -> fields.AsString(e, name)) |> Array.ofList
        let v = { Tokens = strings "tokens"; Answers = strings "answers" }
        if v.Tokens.Length < 2 || v.Tokens[paddingId] <> padding || v.Tokens[unknownId] <> unknown then
            fields.Fail "tokens must start with the padding and unknown tokens"
        v)
