/// The data a run trains on: the built-in dataset (generated on first use in the cache folder) or a
/// dataset directory, split into train / architecture / validation.
module Lnmn.Train.TrainingData

open System
open Lnmn.Core.Data
open Lnmn.Core.Data.Batching
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec

/// Where a run's data comes from.
type Choice =
    /// The built-in dataset with these options, in the cache folder (`BuiltInCache`), generated on first use.
    | BuiltInData of BuiltInOptions
    /// A dataset directory, used as it is.
    | DataDirectory of string

/// What `--data` asks for: that directory, or the built-in dataset at its default options.
let ofDataOption (data: string option) =
    match data with
    | Some dir -> DataDirectory dir
    | None -> BuiltInData BuiltInOptions.defaults

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
      Train: Split
      Architecture: Split
      Validation: Split
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
/// answer vocabulary of `vqaAnswers` when `origin` is `FromTraining`) or CLEVR's layout.
let load (choice: Choice) (origin: Vocabulary.Origin) (vqaAnswers: int) : Result<Dataset.Dataset * Location, string> =
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
            AnyDataset.load origin vqaAnswers dir
            |> Result.map (fun d -> d, { Directory = dir; Recipe = BuiltIn.readRecipe dir; Name = name })
            |> Result.mapError DataError.describe
    with DataException e -> Error(DataError.describe e)

let split (seed: int) (archSplit: ArchitectureSplit) (dataset: Dataset.Dataset) (location: Location) =
    match archSplit with
    | HeldOutOfTrain fraction ->
        let train, architecture = splitArchitecture seed fraction dataset.Train.Examples
        { Dataset = dataset; Train = { dataset.Train with Examples = train }; Architecture = { dataset.Train with Examples = architecture }
          Validation = dataset.Val; Location = location }
    | ValidationLeaky -> { Dataset = dataset; Train = dataset.Train; Architecture = dataset.Val; Validation = dataset.Val; Location = location }

/// What the defaults (`Defaults.specs`) read off the data a run trains on.
let facts (data: TrainingData) : Lnmn.Train.Defaults.DataFacts =
    let f = data.Dataset.Train.Features
    { BuiltIn = data.Location.Recipe.IsSome; Vqa = isVqa data.Train
      Answers = data.Dataset.Vocabulary.Answers.Length; Words = data.Dataset.Vocabulary.Tokens.Length
      Channels = f.Channels; Height = f.Height; Width = f.Width; TrainExamples = data.Train.Examples.Length }

/// `count` indices into the architecture split for step `step`, fixed by the seed (plain
/// arithmetic: HashCode.Combine differs between processes, which would break resume).
let architectureIndices (seed: int) (step: int) (count: int) (size: int) =
    let random = Random(seed * 1_000_003 + step)
    Array.init count (fun _ -> random.Next size)
