/// A training run: set up (`RunSetup`), trained (`EpochLoop`), and what it learned written out (`FinishedRun`).
module Lnmn.Train.Trainer

open Lnmn.Core
open Lnmn.Train.Configs

type RunSummary =
    { RunDirectory: string
      StepsRun: int
      /// Soft-α validation accuracy (%), when the run got to evaluate.
      ValidationAccuracy: float option }

/// Trains as the config says; a user's mistake comes back as a one-line Error.
let run (config: TrainConfig) : Result<RunSummary, string> =
    result {
        let! setup = RunSetup.prepare config
        if config.DryRun then
            RunSetup.printDryRun setup
            return { RunDirectory = ""; StepsRun = 0; ValidationAccuracy = None }
        else
            let root = config.RunDir |> Option.defaultWith (fun () -> RunSetup.defaultRunDirectory config setup.Data.Location)
            let paths = RunFolder.paths root
            use! _ = RunFolder.lock root
            let! state, start = RunSetup.start config setup paths
            printfn "run folder: %s" root
            let display = ProgressDisplay.ProgressDisplay(start.GlobalStep, setup.Training.BatchSize)
            let! step = EpochLoop.run config setup.Device paths setup.Spec setup.Training setup.Data state start display
            let accuracy = FinishedRun.write setup.Device paths setup.Training setup.Data state display
            return { RunDirectory = root; StepsRun = step - start.GlobalStep; ValidationAccuracy = Some accuracy }
    }
