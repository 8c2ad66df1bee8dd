/// A training run: set up (`RunSetup`), trained (`EpochLoop`), and what it learned written out (`FinishedRun`).
module Lnmn.Train.Trainer

open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Train.Configs

type RunSummary =
    { RunDirectory: string
      StepsRun: int
      /// Soft-α validation accuracy (%), when the run got to evaluate.
      ValidationAccuracy: float option }

/// A full disk, in one line: the file it stopped, and what is kept to go on from.
let private noSpace (paths: RunFolder.Paths) (file: string) =
    match Checkpoint.readMetadata paths.Checkpoint with
    | Ok m ->
        $"{file}: no space left on device; the last checkpoint, {paths.Checkpoint} (step {m.Progress.GlobalStep}), is intact: free some space, then lnmn-train --resume --run-dir {paths.Root}"
    | Error _ -> $"{file}: no space left on device, before the run's first checkpoint: free some space, then start it again"

/// Trains as the config says; a user's mistake, or a full disk, comes back as a one-line Error.
let run (config: TrainConfig) : Result<RunSummary, string> =
    result {
        let! setup = RunSetup.prepare config
        if config.DryRun then
            RunSetup.printDryRun setup
            return { RunDirectory = ""; StepsRun = 0; ValidationAccuracy = None }
        else
            let root = config.RunDir |> Option.defaultWith (fun () -> RunSetup.defaultRunDirectory config setup.Data.Location)
            let paths = RunFolder.paths root
            match setup.ResumeFrom with
            | Some(_, progress) when RunSetup.trained setup progress && FinishedRun.isWritten paths ->
                printfn "%s: the run is finished (step %d of %d), nothing to resume" root progress.GlobalStep (Checkpoint.Plan.lastStep setup.Plan)
                return { RunDirectory = root; StepsRun = 0; ValidationAccuracy = None }
            | _ ->
                use! _ = RunFolder.lock root
                let trainAndReport () =
                    result {
                        let! state, start = RunSetup.start config setup paths
                        printfn "run folder: %s" root
                        setup.ResumeFrom
                        |> Option.iter (fun (path, p) -> printfn "resumed from %s at step %d of %d" path p.GlobalStep (Checkpoint.Plan.lastStep setup.Plan))
                        let display = ProgressDisplay.ProgressDisplay(start.GlobalStep, setup.Training.BatchSize)
                        let! step = EpochLoop.run setup.Plan setup.Workers setup.Device paths setup.Spec setup.Training setup.Data state start display
                        let accuracy = FinishedRun.write setup.Device paths setup.Training setup.Data state display
                        return { RunDirectory = root; StepsRun = step - start.GlobalStep; ValidationAccuracy = Some accuracy }
                    }
                let! summary = try trainAndReport () with NoSpaceLeft file -> Error(noSpace paths file)
                return summary
    }
