/// A training run: Algorithm 2 over epochs, with a run folder, checkpoints, resume and evaluation.
module Lnmn.Train.Trainer

open System
open System.IO
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Data
open Lnmn.Core.Network
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train.Options
open Lnmn.Train.TrainingData

type RunSummary =
    { RunDirectory: string
      StepsRun: int
      /// Soft-α validation accuracy (%), when the run got to evaluate.
      ValidationAccuracy: float option }

let private checkpointEvery = 100

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

let private parameterCount (ps: Modules.Parameter seq) = ps |> Seq.sumBy (fun p -> p.numel())

let private defaultRunDirectory (config: TrainConfig) (data: Location) =
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

let private loop (config: TrainConfig) (device: torch.Device) (paths: RunFolder.Paths) (spec: ModelSpec) (training: TrainingSpec) (data: TrainingData) (state: Steps.TrainingState) (start: Checkpoint.Progress) =
    use log = new RunFolder.MetricsLog(paths)
    let plannedSteps = plannedSteps training data.Train.Examples.Length
    let totalSteps = match config.MaxSteps with Some m -> min plannedSteps m | None -> plannedSteps
    let display = ProgressDisplay.ProgressDisplay(start.GlobalStep, training.BatchSize)
    let trainingClock = Diagnostics.Stopwatch()
    let lambdaWAt step = defaultArg training.LambdaWScale 1.0 * EntropySchedule.lambda plannedSteps step
    let save (progress: Checkpoint.Progress) =
        log.Sync()
        let metadata: Checkpoint.Metadata =
            { Model = spec; Training = training
              Words = List.ofArray data.Dataset.Vocabulary.Tokens; Answers = List.ofArray data.Dataset.Vocabulary.Answers
              DataDirectory = Some data.Location.Directory; DataRecipe = data.Location.Recipe
              Progress = progress; RngState = Checkpoint.currentRngState () }
        Checkpoint.save paths.Checkpoint metadata state
    let progress epoch step (loss, accuracy, batches) : Checkpoint.Progress =
        { Epoch = epoch; BatchInEpoch = batches; GlobalStep = step; EpochLossSum = loss; EpochAccuracySum = accuracy }
    /// One batch of Algorithm 2 in its own dispose scope: (step, epoch sums) after it, or why it stopped.
    let trainOne epoch (indices: int[]) (step: int) (sums: float * float * int) : Result<int * (float * float * int), string> =
        use _ = torch.NewDisposeScope()
        trainingClock.Start()
        let trainBatch = batch device data.Train indices
        let archBatch =
            lazy (batch device data.Architecture (architectureIndices training.Seed step training.BatchSize data.Architecture.Examples.Length))
        let lambdaW = lambdaWAt step
        let alpha =
            if AlphaSchedule.isSearching training.AlphaWarmup step plannedSteps then
                Steps.architectureStep training lambdaW state trainBatch archBatch
            else None
        let learningRate = training.Weights.LearningRate * LearningRateDecay.factor training.WeightLearningRateDecay step plannedSteps
        Steps.setLearningRate state.WeightOptimiser learningRate
        let weights = Steps.weightStep training lambdaW state trainBatch
        let alphaFinite = alpha |> Option.forall Steps.StepMetrics.isFinite
        if not (alphaFinite && Steps.StepMetrics.isFinite weights) then
            let loss = match alpha with Some a when not alphaFinite -> a.Loss | _ -> weights.Loss
            Error $"loss became {loss} at epoch {epoch + 1}, step {step + 1}: training stopped; the last good checkpoint is kept at {paths.Checkpoint}"
        else
            let step = step + 1
            trainingClock.Stop()
            match config.EvalEvery with
            | Some every when step % every = 0 ->
                let v = Scoring.overallPercent device state.Network training.BatchSize data.Validation
                log.Evaluation(step, [ "questions", float (step * training.BatchSize); "seconds", trainingClock.Elapsed.TotalSeconds
                                       "val_accuracy", v ])
            | _ -> ()
            if step = 1 && Steps.hasAlpha state then
                AtomicFile.writeAllText paths.AlphaStepOne (SpecJson.serialize (Lnmn.Analysis.AlphaReadout.read state.Network))
            log.Step(step,
                [ "epoch", float epoch; "lambda_w", lambdaW; "loss", weights.Loss; "cross_entropy", weights.CrossEntropy
                  "accuracy", weights.Accuracy; "module_entropy", weights.ModuleEntropy
                  "lr", learningRate ]
                @ [ for t, h in List.indexed weights.ModuleEntropyPerStep -> $"module_entropy_t{t + 1}", h ]
                @ [ for part, norm in weights.GradientNorms -> $"grad_norm_{part}", norm ]
                @ [ for a in Option.toList alpha do yield! [ "alpha_loss", a.Loss; "alpha_cross_entropy", a.CrossEntropy ] ])
            display.Update { Epoch = epoch; Epochs = training.Epochs; Step = step; TotalSteps = totalSteps; Loss = weights.Loss; Accuracy = weights.Accuracy }
            let loss, acc, n = sums
            let sums = loss + weights.Loss, acc + weights.Accuracy, n + 1
            if step % checkpointEvery = 0 then save (progress epoch step sums)
            Ok(step, sums)
    let rec epochs epoch (step: int) =
        if epoch >= training.Epochs || step >= totalSteps then Ok step
        else
            let order = Batching.batches training.Seed epoch training.BatchSize data.Train.Examples.Length
            let first = if epoch = start.Epoch then start.BatchInEpoch else 0
            let rec batches b step (sums: float * float * int) =
                if b >= order.Length then Ok(step, sums)
                elif step >= totalSteps then Ok(step, sums)
                else
                    // Not inside the dispose scope: the call stays in tail position over thousands of batches.
                    match trainOne epoch order.[b] step sums with
                    | Error e -> Error e
                    | Ok(step, sums) -> batches (b + 1) step sums
            let resumedSums = if epoch = start.Epoch then start.EpochLossSum, start.EpochAccuracySum, first else 0.0, 0.0, 0
            match batches first step resumedSums with
            | Error e -> Error e
            | Ok(step, ((_, _, n) as sums)) when step >= totalSteps && n < order.Length ->
                // Stopped inside the epoch (--max-steps): checkpoint where it stands.
                save (progress epoch step sums)
                Ok step
            | Ok(step, (loss, acc, n)) ->
                let valAccuracy = Scoring.overallPercent device state.Network training.BatchSize data.Validation
                log.Epoch(epoch, [ "lambda_w", lambdaWAt (step - 1); "train_loss", loss / float (max n 1); "train_accuracy", 100.0 * acc / float (max n 1)
                                   "val_accuracy", valAccuracy ])
                display.Line $"epoch {epoch + 1}/{training.Epochs}: train loss {loss / float (max n 1):F3}, train acc {100.0 * acc / float (max n 1):F1}%%, val acc {valAccuracy:F2}%%"
                save { Checkpoint.Progress.start with Epoch = epoch + 1; GlobalStep = step }
                epochs (epoch + 1) step
    match epochs start.Epoch start.GlobalStep with
    | Error e -> Error e
    | Ok step ->
        let table, json, softOverall = Scoring.evaluation device state.Network training.BatchSize data.Validation
        let title = match training.ArchitectureSplit with ValidationLeaky -> "validation (α fitted on it: not held out)" | HeldOutOfTrain _ -> "validation"
        let grounding =
            Scoring.grounding device state.Network training.BatchSize data.Validation data.Location.Directory "val"
            |> Option.map (fun g -> "\n" + Lnmn.Analysis.Grounding.describe g + "\n") |> Option.defaultValue ""
        let text = $"## {title}\n\n{table}\n{grounding}"
        AtomicFile.writeAllText paths.EvalMarkdown text
        AtomicFile.writeAllText paths.EvalJson json
        match data.Dataset.Test |> Option.map (TrainingData.source data.Dataset) with
        | Some test when TrainingData.isVqa test ->
            let path = Path.Combine(paths.Root, VqaLayout.resultsFileName data.Dataset.Test.Value.Name)
            AtomicFile.writeAllText path (Scoring.vqaResults device state.Network training.BatchSize test data.Dataset.Vocabulary.Answers)
            display.Line $"{test.Examples.Length} test predictions: {path}"
        | _ -> ()
        if Steps.hasAlpha state then
            let alpha = Lnmn.Analysis.AlphaReadout.read state.Network
            let search =
                if File.Exists paths.AlphaStepOne then
                    let start = SpecJson.deserialize<Lnmn.Analysis.AlphaReadout.NodeReadout list> (File.ReadAllText paths.AlphaStepOne)
                    let moved, nodes = Lnmn.Analysis.AlphaReadout.moved start alpha
                    $"## The search\n\n{moved} of {nodes} nodes end on another op than they had after step 1.\n\n"
                else ""
            AtomicFile.writeAllText paths.Alpha
                (search + "## What each module computes (argmax op per node, simplified)\n\n"
                 + Lnmn.Analysis.Extraction.markdown (Lnmn.Analysis.Extraction.extract state.Network)
                 + "\n\n## softmax(α) per node (%)\n\n" + Lnmn.Analysis.AlphaReadout.markdown alpha + "\n")
            AtomicFile.writeAllText paths.AlphaPlot (Lnmn.Analysis.Plots.alphaHeatmap alpha)
        else AtomicFile.writeAllText paths.Alpha "This model has no α (its modules are hand-designed or concatenation cells): nothing to read out.\n"
        AtomicFile.writeAllText paths.CurvesPlot (Lnmn.Analysis.Plots.trainingCurves (RunFolder.readEpochAccuracies paths))
        display.Line text
        Ok { RunDirectory = paths.Root; StepsRun = step - start.GlobalStep; ValidationAccuracy = Some softOverall }

/// Trains as the config says; a user's mistake comes back as a one-line Error.
let run (config: TrainConfig) : Result<RunSummary, string> =
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
        if config.DryRun then
            printfn "%s" (SpecJson.serialize spec)
            printfn "%s" (SpecJson.serialize training)
            printfn "parameters: %d weights, %d α (%d nodes)"
                (parameterCount (network.WeightParameters())) (parameterCount (network.AlphaParameters())) (ModelSpec.nodeCount spec)
            printfn "data: %d train, %d architecture, %d validation questions" data.Train.Examples.Length data.Architecture.Examples.Length data.Validation.Examples.Length
            return { RunDirectory = ""; StepsRun = 0; ValidationAccuracy = None }
        else
            let root = config.RunDir |> Option.defaultWith (fun () -> defaultRunDirectory config location)
            let paths = RunFolder.paths root
            use! _ = RunFolder.lock root
            do! if not config.Resume && File.Exists paths.Checkpoint then
                    Error $"{root} already holds a run: add --resume to continue it, or choose another --run-dir"
                else Ok()
            Directory.CreateDirectory root |> ignore
            let state = Steps.createState training network
            let! start =
                match resumeFrom with
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
                    writeConfig paths config spec training data
                    Ok Checkpoint.Progress.start
            printfn "run folder: %s" root
            return! loop config device paths spec training data state start
    }

