/// Loads a dataset directory (real CLEVR or built-in) into encoded examples and feature sources,
/// with every bad-input check; problems come back as one-line DataErrors.
module Lnmn.Core.Data.Dataset

open System.IO
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Batching

type SplitData =
    { Name: string
      Examples: Example[]
      Features: Features.FeatureSource }

type Dataset =
    { Directory: string
      Vocabulary: Vocabulary.Vocabulary
      Train: SplitData
      Val: SplitData
      Test: SplitData option }
    interface System.IDisposable with
        member this.Dispose() =
            this.Train.Features.Dispose()
            this.Val.Features.Dispose()
            this.Test |> Option.iter (fun t -> t.Features.Dispose())

/// Opens the features of a split: HDF5 at either accepted place, or a folder of .npy files.
let openFeatures (dir: string) (split: string) : Result<Features.FeatureSource, DataError> =
    match DatasetLayout.featureCandidates dir split |> List.tryFind File.Exists with
    | Some path -> Features.openHdf5 path
    | None ->
        let npy = DatasetLayout.npyDirectory dir split
        if Directory.Exists npy then Features.openNpyDirectory npy
        else
            Error(DataError.make (DatasetLayout.featureCandidates dir split).Head None "features not found (nor <dir>/<split>_features.h5, nor a folder of .npy files)")

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

let private loadSplit (vocabulary: Vocabulary.Vocabulary) (dir: string) (split: string) (requireAnswers: bool) =
    let path = DatasetLayout.questionsFile dir split
    match openFeatures dir split with
    | Error e -> Error e
    | Ok features ->
        match DataError.catch path (fun () -> encode vocabulary path features.Count requireAnswers (ClevrJson.readQuestions path)) with
        | Ok examples -> Ok { Name = split; Examples = examples; Features = features }
        | Error e ->
            features.Dispose()
            Error e

/// Loads train and val (and test when present). The vocabulary is built from the training
/// questions unless one is given (a run's saved vocabulary).
let loadWith (vocabulary: Vocabulary.Vocabulary option) (dir: string) : Result<Dataset, DataError> =
    let trainPath = DatasetLayout.questionsFile dir "train"
    let vocabularyResult =
        match vocabulary with
        | Some v -> Ok v
        | None ->
            DataError.catch trainPath (fun () ->
                Vocabulary.build answers (ClevrJson.readQuestions trainPath |> Seq.map (fun q -> q.Text)))
    match vocabularyResult with
    | Error e -> Error e
    | Ok vocabulary ->
        match loadSplit vocabulary dir "train" true with
        | Error e -> Error e
        | Ok train ->
            match loadSplit vocabulary dir "val" true with
            | Error e ->
                train.Features.Dispose()
                Error e
            | Ok value ->
                let test =
                    if File.Exists(DatasetLayout.questionsFile dir "test") then Some(loadSplit vocabulary dir "test" false) else None
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

let loadDataset (dir: string) = loadWith None dir
