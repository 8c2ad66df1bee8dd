/// What a run starts from, before its first step: a new run's spec, training and data from its
/// config; a resumed run's from its checkpoint; a fine-tuned run's network from a trained one with
/// the vocabulary extended; `--dry-run`'s printout; the run folder made ready (config.json, or the
/// checkpoint's state and the metrics truncated to it).
module Lnmn.Train.RunSetup

open System
open System.IO
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train.Configs
open Lnmn.Train.TrainingData

/// The built-in dataset trains for this many epochs unless --epochs says otherwise: its train split
/// is sized so that the main job sees every question once.
let builtInEpochs = 1

/// How answer cells pool on the built-in dataset: weighted by the map they read. With the paper's
/// plain sum no attention grounds there, whatever else is tried (docs/design.md §4); CLEVR runs keep
/// the paper's cell.
let builtInAnswerPooling = AttentionWeighted

let modelSpec (config: TrainConfig) (dataset: Dataset.Dataset) (isBuiltIn: bool) =
    let f = dataset.Train.Features
    let answers, words = dataset.Vocabulary.Answers.Length, dataset.Vocabulary.Tokens.Length
    let paperSize = defaultArg config.PaperSize (not isBuiltIn)
    let baseDims =
        if paperSize then { ModelDims.paper answers words with InputChannels = f.Channels; GridHeight = f.Height; GridWidth = f.Width }
        else ModelDims.small answers words f.Channels f.Height f.Width
    let dims =
        { baseDims with
            Steps = config.Steps
            StackLength = config.StackLength
            MapDim = defaultArg config.MapDim baseDims.MapDim }
    let spec =
        match config.Model with
        | Lnmn -> ModelSpec.lnmn config.Ablation dims
        | StackNmn -> ModelSpec.stackNmn dims
        | ConcatCells -> ModelSpec.concat config.Ablation dims
        | CellsWithDescribe -> ModelSpec.cellsWithDescribe config.Ablation dims
    { spec with
        Stack = config.Stack
        Pointer = config.Pointer |> Option.orElse spec.Pointer
        Initialisation = Some config.Initialisation
        AlphaInitScale = config.AlphaInitScale |> Option.orElse (AlphaSchedule.Rule.initialisationScale config.AlphaRule)
        AlphaPreset = config.AlphaPreset
        AnswerPooling = Some(config.AnswerPooling |> Option.defaultValue (if isBuiltIn then builtInAnswerPooling else SpatialSum)) }

/// The built-in dataset is trained for minutes, not days: a larger weight learning rate than the
/// paper's, which is meant for 30 epochs of 700K questions.
let builtInLearningRate = 1e-3

/// λ_w's scale on the built-in dataset: the paper's schedule holds module weights uniform while
/// λ_w > 0 (H(w(t)) stays at log M, measured), the first two thirds of any run; a 15-minute run
/// cannot spare them (docs/design.md §4). CLEVR runs keep the paper's schedule.
let builtInLambdaWScale = 0.0

/// Weight steps a run is planned for: its epochs over the training examples. The schedules (λ_w,
/// α's warm-up and lr, the weights' lr decay) follow this plan; --max-steps only stops a run early.
let plannedSteps (training: TrainingSpec) (trainExamples: int) =
    (trainExamples + training.BatchSize - 1) / training.BatchSize * training.Epochs

/// `vqa`: the sigmoid loss on soft targets (`AnswerLoss`), else the paper's softmax CE.
let trainingSpec (config: TrainConfig) (isBuiltIn: bool) (vqa: bool) (trainExamples: int) =
    let paper = TrainingSpec.paper
    let weightLr = config.LearningRate |> Option.defaultValue (if isBuiltIn then builtInLearningRate else paper.Weights.LearningRate)
    let epochs = config.Epochs |> Option.defaultValue (if isBuiltIn then builtInEpochs else TrainingSpec.paper.Epochs)
    let steps = plannedSteps { paper with Epochs = epochs; BatchSize = config.BatchSize } trainExamples
    let alpha = AlphaSchedule.Rule.alphaSettings config.AlphaRule paper.Alpha steps
    { paper with
        Weights = { paper.Weights with LearningRate = weightLr }
        Alpha = { alpha with LearningRate = defaultArg config.AlphaLearningRate alpha.LearningRate }
        AlphaWarmup = config.AlphaWarmup |> Option.orElse (AlphaSchedule.Rule.warmup config.AlphaRule)
        WeightLearningRateDecay = Some config.LearningRateDecay
        LambdaWScale = config.LambdaWScale |> Option.orElse (if isBuiltIn then Some builtInLambdaWScale else None)
        Epochs = epochs
        BatchSize = config.BatchSize
        EntropyScaling = config.EntropyScaling
        ArchitectureSplit = config.ArchitectureSplit
        Unrolled = config.Unrolled
        Seed = config.Seed
        AnswerLoss = if vqa then Some SigmoidSoftTargets else None }

/// A run about to start: what it trains, on what, and (for a resumed run) the checkpoint it goes on from.
type Setup =
    { Device: torch.Device
      Spec: ModelSpec
      Training: TrainingSpec
      Data: TrainingData
      Network: LnmnNetwork.LnmnNetwork
      /// The checkpoint a resumed run continues from.
      ResumeFrom: string option }

/// The spec, training, data and network of the run the config asks for; a user's mistake as a one-line Error.
let prepare (config: TrainConfig) : Result<Setup, string> =
    result {
        let! device = Device.resolve config.Device
        Device.seedAndThreads config.Seed config.Threads
        let resumeFrom = config.RunDir |> Option.map (fun d -> (RunFolder.paths d).Checkpoint) |> Option.filter (fun _ -> config.Resume)
        let! resumed =
            match resumeFrom with
            | Some path -> Checkpoint.readMetadata path |> Result.map Some
            | None -> Ok None
        let! fineTune =
            match config.FineTuneFrom with
            | Some path -> Checkpoint.readMetadata path |> Result.map (fun m -> Some(path, m))
            | None -> Ok None
        let choice =
            match resumed, config.Data with
            | Some m, _ -> recorded m
            | None, Some dir -> DataDirectory dir
            | None, None -> BuiltInData BuiltInOptions.defaults
        let trainedVocabulary (m: Checkpoint.Metadata) = { Vocabulary.Tokens = Array.ofList m.Words; Vocabulary.Answers = Array.ofList m.Answers }
        let! vocabulary =
            match resumed, fineTune, choice with
            | Some m, _, _ -> Ok(Some(trainedVocabulary m))
            | None, Some(_, m), DataDirectory dir ->
                let path = DatasetLayout.questionsFile dir "train"
                DataError.catch path (fun () -> ClevrJson.readQuestions path |> Seq.map (fun q -> q.Text) |> Vocabulary.extend (trainedVocabulary m))
                |> Result.map Some |> Result.mapError DataError.describe
            | _ -> Ok None
        let! dataset, location = TrainingData.load choice vocabulary config.VqaAnswers
        let isBuiltIn = location.Recipe.IsSome
        let spec =
            match resumed, fineTune with
            | Some m, _ -> m.Model
            | None, Some(_, m) -> FineTune.expandedSpec m.Model dataset.Vocabulary.Tokens.Length
            | None, None -> modelSpec config dataset isBuiltIn
        let seed, architectureSplit =
            match resumed with
            | Some m -> m.Training.Seed, m.Training.ArchitectureSplit
            | None -> config.Seed, config.ArchitectureSplit
        let data = split seed architectureSplit dataset location
        let training =
            match resumed with
            | Some m -> { m.Training with Epochs = defaultArg config.Epochs m.Training.Epochs }
            | None -> trainingSpec config isBuiltIn (TrainingData.isVqa data.Train) data.Train.Examples.Length
        let network = LnmnNetwork.compile spec
        let! () =
            match fineTune with
            | Some(path, m) ->
                let trained = LnmnNetwork.compile m.Model
                Checkpoint.load path (Steps.createState m.Training trained)
                |> Result.map (fun _ ->
                    FineTune.copyInto trained network
                    printfn "fine-tuning from %s: %d words, %d of them new" path dataset.Vocabulary.Tokens.Length (dataset.Vocabulary.Tokens.Length - m.Words.Length))
            | None -> Ok()
        network.``to``(device) |> ignore
        return { Device = device; Spec = spec; Training = training; Data = data; Network = network; ResumeFrom = resumeFrom }
    }

let private parameterCount (ps: Modules.Parameter seq) = ps |> Seq.sumBy (fun p -> p.numel())

/// `--dry-run`: the resolved spec and training, parameter and α counts, the split sizes.
let printDryRun (setup: Setup) =
    let data = setup.Data
    printfn "%s" (SpecJson.serialize setup.Spec)
    printfn "%s" (SpecJson.serialize setup.Training)
    printfn "parameters: %d weights, %d α (%d nodes)"
        (parameterCount (setup.Network.WeightParameters())) (parameterCount (setup.Network.AlphaParameters())) (ModelSpec.nodeCount setup.Spec)
    printfn "data: %d train, %d architecture, %d validation questions" data.Train.Examples.Length data.Architecture.Examples.Length data.Validation.Examples.Length

let defaultRunDirectory (config: TrainConfig) (data: Location) =
    let stamp = DateTime.UtcNow.ToString "yyyyMMdd-HHmmss"
    Path.Combine("runs", $"{ModelChoice.label config.Model config.Ablation}-{data.Name}-seed{config.Seed}-{stamp}")

let private writeConfig (paths: RunFolder.Paths) (config: TrainConfig) (spec: ModelSpec) (training: TrainingSpec) (data: TrainingData) =
    let leak =
        match training.ArchitectureSplit with
        | ValidationLeaky -> "α is fitted on val (the authors' choice): val accuracy is NOT held out"
        | HeldOutOfTrain f -> $"α is fitted on {f:P0} of train held out from the weight steps; val is held out"
    let configJson =
        SpecJson.serialize
            {| Command = Environment.GetCommandLineArgs() |> String.concat " "
               GitCommit = BuildInfo.gitCommit
               Data = data.Location.Directory
               DataRecipe = data.Location.Recipe
               ArchitectureSplitNote = leak
               TrainExamples = data.Train.Examples.Length
               ArchitectureExamples = data.Architecture.Examples.Length
               ValidationExamples = data.Validation.Examples.Length
               Training = training
               Device = string config.Device
               Threads = torch.get_num_threads () |}
    AtomicFile.writeAllText paths.Config configJson
    AtomicFile.writeAllText paths.Spec (SpecJson.serialize spec)
    Vocabulary.save (Path.Combine(paths.Root, "vocabulary.json")) data.Dataset.Vocabulary

/// The run folder (locked by the caller) made ready for the first step: a resumed run's state
/// loaded and its metrics cut back to its checkpoint; a new run's config, spec and vocabulary written.
let start (config: TrainConfig) (setup: Setup) (paths: RunFolder.Paths) : Result<Steps.TrainingState * Checkpoint.Progress, string> =
    result {
        do! if not config.Resume && File.Exists paths.Checkpoint then
                Error $"{paths.Root} already holds a run: add --resume to continue it, or choose another --run-dir"
            else Ok()
        Directory.CreateDirectory paths.Root |> ignore
        let state = Steps.createState setup.Training setup.Network
        let! start =
            match setup.ResumeFrom with
            | Some path ->
                Checkpoint.load path state
                |> Result.map (fun m ->
                    Checkpoint.restoreRngState m.RngState
                    let p = m.Progress
                    RunFolder.truncateJsonl paths.StepMetrics (fun e -> e.GetProperty("step").GetDouble() <= float p.GlobalStep)
                    RunFolder.truncateJsonl paths.EpochMetrics (fun e -> e.GetProperty("epoch").GetDouble() < float p.Epoch)
                    RunFolder.truncateJsonl paths.EvalMetrics (fun e -> e.GetProperty("step").GetDouble() <= float p.GlobalStep)
                    p)
            | None ->
                // Metrics left by a run killed before its first checkpoint would be doubled.
                for stale in [ paths.StepMetrics; paths.EpochMetrics; paths.EvalMetrics ] do File.Delete stale
                writeConfig paths config setup.Spec setup.Training setup.Data
                Ok Checkpoint.Progress.start
        return state, start
    }
