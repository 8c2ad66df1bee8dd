/// What a run starts from, before its first step: a new run's spec, training, plan and data from its
/// config (`Defaults.specs`); a resumed run's from its checkpoint, all of them; a fine-tuned run's network from a trained one with
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

/// A run about to start: what it trains, on what, and (for a resumed run) the checkpoint it goes on from.
type Setup =
    { Device: torch.Device
      Spec: ModelSpec
      Training: TrainingSpec
      Data: TrainingData
      Network: LnmnNetwork.LnmnNetwork
      /// Its length, evaluations and threads: a new run's from its options, a resumed run's as recorded.
      Plan: Checkpoint.Plan
      /// The data-parallel workers each step's batch is split over (1: not split): this session's,
      /// which --threads and --parallel may change on resume.
      Workers: int
      /// The checkpoint a resumed run continues from, and where it stands.
      ResumeFrom: (string * Checkpoint.Progress) option }

/// Whether a run standing at `progress` has trained all its steps.
let trained (setup: Setup) (progress: Checkpoint.Progress) =
    progress.GlobalStep >= Checkpoint.Plan.lastStep setup.Plan || progress.Epoch >= setup.Training.Epochs

/// The checkpoint a resumed run goes on from. A damaged one is refused in one line, which says how
/// to go on from the previous checkpoint where that one is whole.
let private resumable (path: string) : Result<Checkpoint.Metadata, string> =
    match Checkpoint.readMetadata path with
    | Ok m -> Ok m
    | Error e when File.Exists path ->
        let previous = Checkpoint.previousPath path
        match if File.Exists previous then Checkpoint.readMetadata previous |> Result.toOption else None with
        | Some p ->
            Error $"{e}; the previous checkpoint, {previous} (step {p.Progress.GlobalStep}), is whole: to continue from it, cp {previous} {path} and resume again"
        | None -> Error $"{e}; there is no whole checkpoint to continue from"
    | Error _ -> Error $"{path}: no checkpoint to resume (the run was stopped before its first one): start it again with its own options"

/// --alpha-preset FILE: the genotype, read and checked against the modules of the model the config
/// asks for; None for a built-in preset or none.
let private writtenGenotype (config: TrainConfig) : Result<Genotype option, string> =
    match config.AlphaPreset with
    | Some(GenotypeFile path) ->
        DataError.catch path (fun () -> File.ReadAllText path)
        |> Result.mapError _.Message
        |> Result.bind Genotype.ofJson
        |> Result.bind (fun g -> Genotype.check (ModelChoice.modules config.Model config.Ablation) g |> Result.map (fun () -> Some g))
        |> Result.mapError (fun e -> $"--alpha-preset {path}: {e}")
    | Some(Preset _) | None -> Ok None

/// The spec, training, data and network of the run the config asks for; a user's mistake as a one-line Error.
let prepare (config: TrainConfig) : Result<Setup, string> =
    result {
        let! written = writtenGenotype config
        let! device = Device.resolve config.Device
        let resumeFrom = config.RunDir |> Option.map (fun d -> (RunFolder.paths d).Checkpoint) |> Option.filter (fun _ -> config.Resume)
        let! resumed =
            match resumeFrom with
            | Some path -> resumable path |> Result.map Some
            | None -> Ok None
        let recordedPlan = resumed |> Option.bind (fun m -> m.Plan)
        let seed = match resumed with Some m -> m.Training.Seed | None -> config.Seed
        let parallelism =
            config.Parallelism |> Option.defaultValue (match recordedPlan with Some { Workers = None } -> Device.IntraOp | _ -> Defaults.cpuParallelism)
        let threads = config.Threads |> Option.orElse (recordedPlan |> Option.map (fun p -> defaultArg p.Workers p.Threads))
        let intraOp, workers = Device.threadsAndWorkers device parallelism threads
        Device.seedAndThreads seed intraOp
        let! fineTune =
            match config.FineTuneFrom with
            | Some path -> Checkpoint.readMetadata path |> Result.map (fun m -> Some(path, m))
            | None -> Ok None
        let choice =
            match resumed with
            | Some m -> recorded m
            | None -> TrainingData.ofDataOption config.Data
        let trainedVocabulary (m: Checkpoint.Metadata) = { Vocabulary.Tokens = Array.ofList m.Words; Vocabulary.Answers = Array.ofList m.Answers }
        let origin =
            match resumed, fineTune, choice with
            | Some m, _, _ -> Vocabulary.Saved(trainedVocabulary m)
            | None, Some(_, m), DataDirectory _ -> Vocabulary.Extended(trainedVocabulary m)
            | _ -> Vocabulary.FromTraining
        let! dataset, location = TrainingData.load choice origin config.VqaAnswers
        let architectureSplit =
            match resumed with
            | Some m -> m.Training.ArchitectureSplit
            | None -> config.ArchitectureSplit
        let data = split seed architectureSplit dataset location
        let newSpec, newTraining = Defaults.specs config (TrainingData.facts data)
        let newSpec = match written with Some g -> { newSpec with AlphaPreset = Some(Written g) } | None -> newSpec
        let spec =
            match resumed, fineTune with
            | Some m, _ -> m.Model
            | None, Some(_, m) -> FineTune.expandedSpec m.Model dataset.Vocabulary.Tokens.Length
            | None, None -> newSpec
        let training =
            match resumed with
            | Some m -> m.Training
            | None -> newTraining
        let plannedSteps = Defaults.plannedSteps training data.Train.Examples.Length
        let! plan =
            match recordedPlan, resumed with
            | Some p, _ when p.PlannedSteps <> plannedSteps ->
                Error $"{data.Location.Directory}: the data has changed since the run started ({data.Train.Examples.Length} training questions now make {plannedSteps} steps, the run was planned for {p.PlannedSteps}); resume it on the data it started on"
            | Some p, _ -> Ok p
            // Checkpoints older than the plan's record: their epochs, no stop before.
            | None, _ -> Ok { PlannedSteps = plannedSteps; MaxSteps = (if resumed.IsSome then None else config.MaxSteps)
                              EvalEvery = (if resumed.IsSome then None else config.EvalEvery); Threads = torch.get_num_threads ()
                              Workers = Some workers |> Option.filter (fun w -> w > 1) }
        let network = LnmnNetwork.compile spec
        let! () =
            match fineTune with
            | Some(path, m) ->
                Checkpoint.openState path
                |> Result.map (fun (_, trained) ->
                    FineTune.copyInto trained.Network network
                    printfn "fine-tuning from %s: %d words, %d of them new" path dataset.Vocabulary.Tokens.Length (dataset.Vocabulary.Tokens.Length - m.Words.Length))
            | None -> Ok()
        network.``to``(device) |> ignore
        let resumeFrom = Option.map2 (fun path (m: Checkpoint.Metadata) -> path, m.Progress) resumeFrom resumed
        return { Device = device; Spec = spec; Training = training; Data = data; Network = network; Plan = plan; Workers = workers; ResumeFrom = resumeFrom }
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

let private writeConfig (paths: RunFolder.Paths) (config: TrainConfig) (setup: Setup) =
    let training, data = setup.Training, setup.Data
    let leak =
        match training.ArchitectureSplit with
        | ValidationLeaky -> "α is fitted on val (the authors' choice): val accuracy is NOT held out"
        | HeldOutOfTrain f -> $"α is fitted on {f:P0} of train held out from the weight steps; val is held out"
    let recorded =
        {| Command = Environment.GetCommandLineArgs() |> String.concat " "
           GitCommit = BuildInfo.gitCommit
           Data = data.Location.Directory
           DataRecipe = data.Location.Recipe
           ArchitectureSplitNote = leak
           TrainExamples = data.Train.Examples.Length
           ArchitectureExamples = data.Architecture.Examples.Length
           ValidationExamples = data.Validation.Examples.Length
           Training = training
           Plan = setup.Plan
           Device = string config.Device
           Threads = torch.get_num_threads ()
           Workers = setup.Workers |}
    let configJson = ConfigFile.write (ConfigFile.forRerun config) recorded
    AtomicFile.writeAllText paths.Config configJson
    AtomicFile.writeAllText paths.Spec (SpecJson.serialize setup.Spec)
    if Specs.ModelSpec.hasAlpha setup.Spec then
        AtomicFile.writeAllText paths.StartGenotype (Genotype.toJson (Lnmn.Analysis.AlphaReadout.genotype setup.Network))
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
            | Some(path, _) ->
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
                writeConfig paths config setup
                Ok Checkpoint.Progress.start
        return state, start
    }
