/// Loads a dataset directory (real CLEVR or built-in) into encoded examples and feature sources,
/// with every bad-input check; problems come back as one-line DataErrors.
module Lnmn.Core.Data.Dataset

open System.IO
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Batching

type Dataset =
    { Directory: string
      Vocabulary: Vocabulary.Vocabulary
      Train: Split
      Val: Split
      Test: Split option }
    interface System.IDisposable with
        member this.Dispose() =
            this.Train.Features.Dispose()
            this.Val.Features.Dispose()
            this.Test |> Option.iter (fun t -> t.Features.Dispose())

/// Opens the features of a split: HDF5 at either accepted place, or a folder of .npy files; held in
/// memory when they fit `Features.inMemoryLimit`.
let openFeatures (dir: string) (split: string) : Result<Features.FeatureSource, DataError> =
    match DatasetLayout.featureCandidates dir split |> List.tryFind File.Exists with
    | Some path -> Features.openHdf5 path
    | None ->
        let npy = DatasetLayout.npyDirectory dir split
        if Directory.Exists npy then Features.openNpyDirectory npy
        else
            Error(DataError.make (DatasetLayout.featureCandidates dir split).Head None "features not found (nor <dir>/<split>_features.h5, nor a folder of .npy files)")
    |> Result.map (Features.inMemoryUpTo Features.inMemoryLimit)

/// Encodes questions; checks answers against the vocabulary and image indices against the
/// feature rows. `requireAnswers` is false for the test split.
let encode (vocabulary: Vocabulary.Vocabulary) (path: string) (featureRows: int) (requireAnswers: bool) (questions: seq<Question>) =
    let ids = Vocabulary.tokenIds vocabulary
    questions
    |> Seq.map (fun q ->
        let at = Some $"question {q.Index}"
        if q.ImageIndex >= featureRows then
            DataError.fail path at $"image index {q.ImageIndex} is beyond the {featureRows} feature rows"
        let answer =
            match q.Answer with
            | Some a ->
                match Vocabulary.answerId vocabulary a with
                | Some i -> i
                | None -> DataError.fail path at $"answer '{a}' is not one of the {vocabulary.Answers.Length} answers"
            | None when requireAnswers -> DataError.fail path at "missing field 'answer'"
            | None -> -1
        { Tokens = Vocabulary.encodeWith ids q.Text
          Answer = answer
          ImageIndex = q.ImageIndex
          Category = q.Program |> Option.bind category
          LastFunction = q.Program |> Option.bind lastFunction
          QuestionIndex = q.Index
          Vqa = None })
    |> Array.ofSeq

let private loadSplit (vocabulary: Vocabulary.Vocabulary) (dir: string) (split: string) (requireAnswers: bool) (questions: seq<Question>) =
    let path = DatasetLayout.questionsFile dir split
    match openFeatures dir split with
    | Error e -> Error e
    | Ok features ->
        match DataError.catch path (fun () -> encode vocabulary path features.Count requireAnswers questions) with
        | Ok examples -> Ok { Name = split; Examples = examples; Features = features; AnswerCount = vocabulary.Answers.Length }
        | Error e ->
            features.Dispose()
            Error e

let private readSplit (dir: string) (split: string) = ClevrJson.readQuestions (DatasetLayout.questionsFile dir split)

/// Loads train and val (and test when present). The training questions are read once, for the
/// vocabulary (as `origin` says) and for their examples.
let loadWith (origin: Vocabulary.Origin) (dir: string) : Result<Dataset, DataError> =
    let trainPath = DatasetLayout.questionsFile dir "train"
    match DataError.catch trainPath (fun () -> readSplit dir "train" |> Array.ofSeq) with
    | Error e -> Error e
    | Ok trainQuestions ->
        let vocabulary = Vocabulary.ofOrigin origin (Vocabulary.build answers) (trainQuestions |> Seq.map (fun q -> q.Text))
        match loadSplit vocabulary dir "train" true trainQuestions with
        | Error e -> Error e
        | Ok train ->
            match loadSplit vocabulary dir "val" true (readSplit dir "val") with
            | Error e ->
                train.Features.Dispose()
                Error e
            | Ok value ->
                let test =
                    if File.Exists(DatasetLayout.questionsFile dir "test") then Some(loadSplit vocabulary dir "test" false (readSplit dir "test")) else None
                match test with
                | Some(Error e) ->
                    train.Features.Dispose()
                    value.Features.Dispose()
                    Error e
                | _ ->
                    Ok
                        { Directory = dir
                          Vocabulary = vocabulary
                          Train = train
                          Val = value
                          Test = test |> Option.bind (function Ok t -> Some t | Error _ -> None) }

let loadDataset (dir: string) = loadWith Vocabulary.FromTraining dir
