/// A training run: set up (`RunSetup`), trained (`EpochLoop`), and what it learned written out (`FinishedRun`).
module Lnmn.Train.Trainer

open System
open Lnmn.Core
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Train.Configs

/// A full disk, in one line: the file it stopped, and what is kept to go on from.
let private noSpace (paths: RunFolder.Paths) (file: string) =
    match Checkpoint.readMetadata paths.Checkpoint with
    | Ok m ->
        $"{file}: no space left on device; the last checkpoint, {paths.Checkpoint} (step {m.Progress.GlobalStep}), is intact: free some space, then lnmn-train --resume --run-dir {paths.Root}"
    | Error _ -> $"{file}: no space left on device, before the run's first checkpoint: free some space, then start it again"

/// The settings a run records in its folder: a new run's from `config`, a resumed run's as it
/// recorded them when it started (`config` then only says where it is).
let private recordedConfig (config: TrainConfig) (setup: RunSetup.Setup) (paths: RunFolder.Paths) =
    match setup.ResumeFrom with
    | Some _ -> RunFolder.readConfig paths
    | None -> Ok(ConfigFile.forRerun config)

/// Trains as the config says, and returns the finished run's result; None when it trained nothing
/// (--dry-run, or a resumed run that was finished already). A user's mistake, or a full disk, comes
/// back as a one-line Error.
let run (config: TrainConfig) : Result<RunResult.RunResult option, string> =
    result {
        let! setup = RunSetup.prepare config
        if config.DryRun then
            RunSetup.printDryRun setup
            return None
        else
            let root = config.RunDir |> Option.defaultWith (fun () -> RunSetup.defaultRunDirectory config setup.Data.Location)
            let paths = RunFolder.paths root
            let! recorded = recordedConfig config setup paths
            match setup.ResumeFrom with
            | Some(_, progress) when RunSetup.trained setup progress && Result.isOk (RunFolder.readResult root recorded) ->
                printfn "%s: the run is finished (step %d of %d), nothing to resume" root progress.GlobalStep (Checkpoint.Plan.lastStep setup.Plan)
                return None
            | _ ->
                use! _ = RunFolder.lock root
                let trainAndReport () =
                    result {
                        let clock = Diagnostics.Stopwatch.StartNew()
                        let! state, start = RunSetup.start config setup paths
                        printfn "run folder: %s" root
                        setup.ResumeFrom
                        |> Option.iter (fun (path, p) -> printfn "resumed from %s at step %d of %d" path p.GlobalStep (Checkpoint.Plan.lastStep setup.Plan))
                        let display = ProgressDisplay.ProgressDisplay(start.GlobalStep, setup.Training.BatchSize)
                        let! step = EpochLoop.run setup paths state start display
                        return Some(FinishedRun.write setup paths recorded state step clock display)
                    }
                let! finished = try trainAndReport () with NoSpaceLeft file -> Error(noSpace paths file)
                return finished
    }
