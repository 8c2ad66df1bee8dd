/// What a finished run writes into its folder: the evaluation tables (soft and hard-max α, per
/// category) and grounding, VQA test predictions, what each module computes (α read back as formulas,
/// a heat map and genotype.json), the learning curves, and last the run's result (result.json).
module Lnmn.Train.FinishedRun

open System
open System.IO
open Lnmn.Core
open TorchSharp
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train.TrainingData

/// Validation questions the output-share table of alpha.md is measured on.
let private outputShareQuestions = 256

/// Writes the run's tables and pages, then its result, each file atomically: result.json last, so
/// that it is there only once everything else is. `config`: the run's settings as config.json
/// records them; `steps`: the weight steps it trained in all; `clock`: running since this session's
/// training began.
let write (setup: RunSetup.Setup) (paths: RunFolder.Paths) (config: Configs.TrainConfig)
          (state: Steps.TrainingState) (steps: int) (clock: Diagnostics.Stopwatch) (display: ProgressDisplay.ProgressDisplay) : RunResult.RunResult =
    let device, spec, training, data = setup.Device, setup.Spec, setup.Training, setup.Data
    let table, scores = Scoring.evaluation device state.Network training.BatchSize data.Validation
    let title = match training.ArchitectureSplit with ValidationLeaky -> "validation (α fitted on it: not held out)" | HeldOutOfTrain _ -> "validation"
    let grounding =
        Scoring.grounding device state.Network training.BatchSize data.Validation data.Location.Directory "val"
        |> Option.map (fun g -> "\n" + Lnmn.Analysis.Grounding.describe g + "\n") |> Option.defaultValue ""
    let text = $"## {title}\n\n{table}\n{grounding}"
    AtomicFile.writeAllText paths.EvalMarkdown text
    AtomicFile.writeAllText paths.EvalJson (Scoring.evalJson scores)
    match data.Dataset.Test with
    | Some test when Batching.isVqa test ->
        let path = Path.Combine(paths.Root, VqaLayout.resultsFileName test.Name)
        AtomicFile.writeAllText path (Scoring.vqaResults device state.Network training.BatchSize test data.Dataset.Vocabulary.Answers)
        display.Line $"{test.Examples.Length} test predictions: {path}"
    | _ -> ()
    if Steps.hasAlpha state then
        let alpha = Lnmn.Analysis.AlphaReadout.read state.Network
        let genotype = Lnmn.Analysis.AlphaReadout.genotype state.Network
        let search =
            match (if File.Exists paths.StartGenotype then Genotype.ofJson (File.ReadAllText paths.StartGenotype) |> Result.toOption else None) with
            | Some start ->
                let moved, nodes = Genotype.moved start genotype
                $"## The search\n\n{moved} of {nodes} nodes end on another op than α started from.\n\n"
            | None -> ""
        let shares =
            let questions = min outputShareQuestions data.Validation.Examples.Length
            use _ = torch.NewDisposeScope()
            let batch = LabelledBatches.batch device data.Validation [| 0 .. questions - 1 |]
            $"\n\n## Each node's winner: its share of α and of the node's output (%%, {questions} validation questions)\n\n"
            + "Output share: p_w·‖op_w‖ / Σ_j p_j·‖op_j‖ per position, averaged over questions, steps and positions; "
            + "bold below 90%: there, hard-max drops what the other ops contribute.\n\n"
            + Lnmn.Analysis.OutputShare.markdown (Lnmn.Analysis.OutputShare.measure state.Network batch.Input)
        AtomicFile.writeAllText paths.Alpha
            (search + "## What each module computes (argmax op per node, simplified)\n\n"
             + Lnmn.Analysis.Extraction.markdown (Lnmn.Analysis.Extraction.extract state.Network)
             + "\n\n## softmax(α) per node (%)\n\n" + Lnmn.Analysis.AlphaReadout.markdown alpha + shares + "\n")
        AtomicFile.writeAllText paths.AlphaPlot (Lnmn.Analysis.Plots.alphaHeatmap alpha)
        AtomicFile.writeAllText paths.Genotype (Genotype.toJson genotype)
    else AtomicFile.writeAllText paths.Alpha "This model has no α (its modules are hand-designed or concatenation cells): nothing to read out.\n"
    AtomicFile.writeAllText paths.CurvesPlot (Lnmn.Analysis.Plots.trainingCurves (RunFolder.readEpochAccuracies paths))
    display.Line text
    let result: RunResult.RunResult =
        { Config = config
          Spec = spec
          Scores = scores
          Steps = steps
          Seconds = clock.Elapsed.TotalSeconds
          Curve =
            [ for step, questions, seconds, accuracy in RunFolder.readEvaluations paths ->
                { Step = step; Questions = int questions; Seconds = seconds; ValidationAccuracy = accuracy } ] }
    AtomicFile.writeAllText paths.Result (RunResult.toJson result)
    result
