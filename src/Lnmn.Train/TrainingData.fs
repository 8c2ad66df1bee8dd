/// The data a run trains on: the built-in dataset (generated on first use in the cache folder) or a
/// dataset directory, split into train / architecture / validation, and turned into tensors batch
/// by batch.
module Lnmn.Train.TrainingData

open System
open TorchSharp
open Lnmn.Core.Data
open Lnmn.Core.Data.Batching
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec

/// Examples with the feature rows their image indices point into, and the size of the answer
/// vocabulary (the width of VQA's soft targets).
type Source = { Examples: Example[]; Features: Features.FeatureSource; AnswerCount: int }

let source (dataset: Dataset.Dataset) (split: Dataset.SplitData) =
    { Examples = split.Examples; Features = split.Features; AnswerCount = dataset.Vocabulary.Answers.Length }

/// Whether the examples are VQA's (scored by the VQA accuracy, trained on soft targets).
let isVqa (source: Source) = source.Examples.Length > 0 && source.Examples[0].Vqa.IsSome

/// Where a run's data comes from.
type Choice =
    /// The built-in dataset with these options, in the cache folder (`BuiltInCache`), generated on first use.
    | BuiltInData of BuiltInOptions
    /// A dataset directory, used as it is.
    | DataDirectory of string

/// The dataset a run uses, as its run folder records it.
type Location =
    { /// Absolute.
      Directory: string
      /// What generated it, for data made by the built-in generator (None for CLEVR).
      Recipe: BuiltIn.Recipe option
      /// "builtin" for the built-in dataset in the cache, else the directory's name: for run names.
      Name: string }

type TrainingData =
    { Dataset: Dataset.Dataset
      Train: Source
      Architecture: Source
      Validation: Source
      Location: Location }

/// Whether the data was made by the built-in generator: it then trains at the built-in size and
/// learning rate (`Defaults`). A directory records its recipe, as `load`'s `Location` does.
let madeByGenerator (choice: Choice) =
    match choice with
    | BuiltInData _ -> true
    | DataDirectory dir -> (BuiltIn.readRecipe (IO.Path.GetFullPath dir)).IsSome

/// The data a checkpoint trained on: its directory as it stands; where that is gone and the
/// generator can make it again, the built-in dataset of its recipe; the built-in default for
/// checkpoints older than that record.
let recorded (metadata: Checkpoint.Metadata) : Choice =
    match metadata.DataDirectory, metadata.DataRecipe with
    | Some dir, Some recipe when not (IO.Directory.Exists dir) && recipe.GeneratorVersion = BuiltIn.generatorVersion -> BuiltInData recipe.Options
    | Some dir, _ -> DataDirectory dir
    | None, _ -> BuiltInData BuiltInOptions.defaults

/// Generates the built-in dataset if needed, then loads the directory: VQA (`VqaLayout`, with an
/// answer vocabulary of `vqaAnswers` unless `vocabulary` is given) or CLEVR's layout.
let load (choice: Choice) (vocabulary: Vocabulary.Vocabulary option) (vqaAnswers: int) : Result<Dataset.Dataset * Location, string> =
    let dir, name =
        match choice with
        | DataDirectory d ->
            let full = IO.Path.TrimEndingDirectorySeparator(IO.Path.GetFullPath d)
            full, IO.Path.GetFileName full
        | BuiltInData options -> BuiltInCache.directory (BuiltInCache.root BuiltInCache.processEnvironment) options, "builtin"
    try
        match choice with
        | BuiltInData options when BuiltIn.ensure options dir -> printfn "generated the built-in dataset in %s" dir
        | _ -> ()
        if not (IO.Directory.Exists dir) then Error $"{dir}: no such dataset directory"
        else
            AnyDataset.load vocabulary vqaAnswers dir
            |> Result.map (fun d -> d, { Directory = dir; Recipe = BuiltIn.readRecipe dir; Name = name })
            |> Result.mapError DataError.describe
    with DataException e -> Error(DataError.describe e)

let split (seed: int) (archSplit: ArchitectureSplit) (dataset: Dataset.Dataset) (location: Location) =
    let train = source dataset dataset.Train
    let validation = source dataset dataset.Val
    match archSplit with
    | HeldOutOfTrain fraction ->
        let s = splitArchitecture seed fraction dataset.Train.Examples dataset.Val.Examples
        { Dataset = dataset; Train = { train with Examples = s.Train }; Architecture = { train with Examples = s.Architecture }
          Validation = validation; Location = location }
    | ValidationLeaky -> { Dataset = dataset; Train = train; Architecture = validation; Validation = validation; Location = location }

/// What the defaults (`Defaults.specs`) read off the data a run trains on.
let facts (data: TrainingData) : Lnmn.Train.Defaults.DataFacts =
    let f = data.Dataset.Train.Features
    { BuiltIn = data.Location.Recipe.IsSome; Vqa = isVqa data.Train
      Answers = data.Dataset.Vocabulary.Answers.Length; Words = data.Dataset.Vocabulary.Tokens.Length
      Channels = f.Channels; Height = f.Height; Width = f.Width; TrainExamples = data.Train.Examples.Length }

/// (B, answers) float32: min(1, humans who gave the answer / 3) for each example at `indices`.
let softTargets (device: torch.Device) (source: Source) (indices: int[]) =
    let targets = Array.zeroCreate<float32> (indices.Length * source.AnswerCount)
    indices
    |> Array.iteri (fun b i ->
        match source.Examples[i].Vqa with
        | Some v -> for answer, target in VqaAnswers.softTargets v.HumanAnswers do targets[b * source.AnswerCount + answer] <- target
        | None -> ())
    torch.tensor(targets, device = device).reshape(int64 indices.Length, int64 source.AnswerCount)

/// A labelled batch on `device` from the examples at `indices`.
let batch (device: torch.Device) (source: Source) (indices: int[]) : Steps.LabelledBatch =
    let padded = pad source.Examples indices
    let b = int64 indices.Length
    let f = source.Features
    { Input =
        { Tokens = torch.tensor(padded.Tokens, device = device).reshape(b, int64 padded.MaxLength)
          Lengths = torch.tensor(padded.Lengths, device = device)
          Features = torch.tensor(f.Read padded.ImageIndices, device = device).reshape(b, int64 f.Channels, int64 f.Height, int64 f.Width) }
      Answers = torch.tensor(padded.Answers, device = device)
      SoftTargets = if isVqa source then Some(softTargets device source indices) else None }

/// `count` indices into the architecture split for step `step`, fixed by the seed (plain
/// arithmetic: HashCode.Combine differs between processes, which would break resume).
let architectureIndices (seed: int) (step: int) (count: int) (size: int) =
    let random = Random(seed * 1_000_003 + step)
    Array.init count (fun _ -> random.Next size)
