/// Algorithm 2 over epochs: per batch an α step (after the warm-up) and a weight step, metrics
/// logged, checkpoints every few steps and at each epoch's end, the validation split scored at each
/// epoch's end and every --eval-every steps.
module Lnmn.Train.EpochLoop

open System
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Core.Training.LabelledBatches
open Lnmn.Train.TrainingData

let private checkpointEvery = 100

/// Trains from `start` until the plan's last step (its epochs, or --max-steps), each batch split over
/// the setup's workers (`DataParallel`; 1: not split); a new run's state is
/// checkpointed before its first step, so that a kill at any moment can be resumed. The last weight
/// step reached, or why it stopped.
let run (setup: RunSetup.Setup) (paths: RunFolder.Paths) (state: Steps.TrainingState) (start: Checkpoint.Progress) (display: ProgressDisplay.ProgressDisplay) : Result<int, string> =
    let plan, workers, device, spec, training, data = setup.Plan, setup.Workers, setup.Device, setup.Spec, setup.Training, setup.Data
    use log = new RunFolder.MetricsLog(paths)
    let plannedSteps = plan.PlannedSteps
    let totalSteps = Checkpoint.Plan.lastStep plan
    let trainingClock = Diagnostics.Stopwatch()
    let lambdaWAt step = defaultArg training.LambdaWScale 1.0 * EntropySchedule.lambda plannedSteps step
    let save (progress: Checkpoint.Progress) =
        log.Sync()
        let metadata: Checkpoint.Metadata =
            { Model = spec; Training = training
              Words = List.ofArray data.Dataset.Vocabulary.Tokens; Answers = List.ofArray data.Dataset.Vocabulary.Answers
              DataDirectory = Some data.Location.Directory; DataRecipe = data.Location.Recipe
              Progress = progress; Plan = Some plan; RngState = Checkpoint.currentRngState () }
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
        let soft = Steps.forwardAt (AlphaSchedule.temperature training.AnnealTo training.AlphaWarmup step plannedSteps)
        let alpha =
            if AlphaSchedule.takesAlphaStep training.AlphaWarmup training.HardenAt training.AlphaEvery step plannedSteps then
                DataParallel.architectureStepWith workers soft training lambdaW state trainBatch archBatch
            else None
        let learningRate = training.Weights.LearningRate * LearningRateDecay.factor training.WeightLearningRateDecay step plannedSteps
        Steps.setLearningRate state.WeightOptimiser learningRate
        let weights =
            let pass = if AlphaSchedule.isHardened training.HardenAt step plannedSteps then Steps.hardMaxForward else soft
            DataParallel.weightStepWith workers pass training lambdaW state trainBatch
        match Option.bind Steps.StepMetrics.nonFinite alpha |> Option.map (sprintf "α step: %s") |> Option.orElse (Steps.StepMetrics.nonFinite weights) with
        | Some what ->
            Error $"{what} at epoch {epoch + 1}, step {step + 1}: training stopped; the last good checkpoint is kept at {paths.Checkpoint}"
        | None ->
            let step = step + 1
            trainingClock.Stop()
            match plan.EvalEvery with
            | Some every when step % every = 0 ->
                let v = Scoring.overallPercent device state.Network training.BatchSize data.Validation
                log.Evaluation(step, [ "questions", float (step * training.BatchSize); "seconds", trainingClock.Elapsed.TotalSeconds
                                       "val_accuracy", v ])
            | _ -> ()
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
    if start = Checkpoint.Progress.start then save start
    epochs start.Epoch start.GlobalStep
