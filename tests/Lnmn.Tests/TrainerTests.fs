module Lnmn.Tests.TrainerTests

open System
open System.IO
open System.Diagnostics
open Expecto
open Argu
open Lnmn.Core.Data
open Lnmn.Core.Training
open Lnmn.Train
open Lnmn.Tests.TestUtil

/// A tiny built-in dataset (300 train, 100 val questions), generated once per test run.
let dataDir =
    lazy
        (let dir = Path.Combine(Path.GetTempPath(), $"lnmn-tests-data-{Environment.ProcessId}")
         BuiltIn.ensure { BuiltInOptions.defaults with TrainScenes = 60; ValScenes = 20; QuestionsPerScene = 5 } dir |> ignore
         dir)

let freshDir name =
    let dir = Path.Combine(Path.GetTempPath(), $"lnmn-tests-{name}-{Guid.NewGuid():N}")
    dir

let private config (args: string list) =
    let parser = ArgumentParser.Create<Options.TrainArgs>(programName = "lnmn-train")
    parser.ParseCommandLine(Array.ofList args) |> Options.toConfig

/// Trains in-process with small settings; returns the run's result.
let train (runDir: string) (extra: string list) =
    let args =
        [ "--data"; dataDir.Force(); "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--epochs"; "2"
          "--threads"; "2"; "--run-dir"; runDir; "--seed"; "3" ] @ extra
    match config args |> Result.bind Trainer.run with
    | Ok(Some result) -> result
    | Ok None -> failtest "the run trained nothing"
    | Error e -> failtestf "training failed: %s" e

let private lines path = File.ReadAllLines path |> Array.filter (fun l -> l <> "")

/// (tag, step, value) of every scalar in a run's TensorBoard events files (TFRecords: length,
/// its CRC, an Event protobuf, the event's CRC), sorted.
let tensorBoardScalars (runDir: string) =
    let rec records (bytes: byte[]) offset acc =
        if offset >= bytes.Length then acc
        else
            let length = int (BitConverter.ToInt64(bytes, offset))
            let event = Tensorboard.Event.Parser.ParseFrom(bytes, offset + 12, length)
            let scalars = if isNull event.Summary then [] else [ for v in event.Summary.Value -> v.Tag, event.Step, v.SimpleValue ]
            records bytes (offset + 12 + length + 4) (acc @ scalars)
    Directory.GetFiles(Path.Combine(runDir, "tensorboard"), "events.out.tfevents.*")
    |> Seq.collect (fun f -> records (File.ReadAllBytes f) 0 [])
    |> Seq.sort |> List.ofSeq

/// The scalars, checked to hold each (tag, step) once.
let private distinctScalars runDir =
    let scalars = tensorBoardScalars runDir
    let keys = scalars |> List.map (fun (tag, step, _) -> tag, step)
    Expect.equal (List.distinct keys).Length keys.Length $"{runDir}: no (tag, step) twice in the TensorBoard events"
    scalars

/// Runs the built lnmn-train program in `workingDirectory` with `environment` added to this
/// process's; returns exit code, stdout, stderr.
let runCliIn (workingDirectory: string) (environment: (string * string) list) (args: string list) =
    runProcessWith environment "dotnet" (Path.Combine(AppContext.BaseDirectory, "lnmn-train.dll") :: args) workingDirectory

/// Runs the built lnmn-train program here, in this process's environment.
let runCli (args: string list) = runCliIn Environment.CurrentDirectory [] args

/// The built lnmn-train program.
let private cli = Path.Combine(AppContext.BaseDirectory, "lnmn-train.dll")

/// A short run as a user types it: 4 epochs of 5 batches planned (20 steps), stopped by --max-steps 17;
/// α searched from step 10 (--alpha-warmup 0.5); validation scored every 3 steps. Checkpoints at
/// step 0, at each epoch's end (5, 10, 15) and at 17.
let private shortRun (dir: string) =
    [ "--data"; dataDir.Force(); "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--epochs"; "4"; "--max-steps"; "17"
      "--eval-every"; "3"; "--alpha-warmup"; "0.5"; "--threads"; "1"; "--run-dir"; dir; "--seed"; "3" ]

/// Resuming as the issue's user does: nothing but the folder (threads and all the rest are the run's own).
let private resumeArgs (dir: string) = [ "--resume"; "--run-dir"; dir ]

/// The short run, uninterrupted: what every interrupted one must equal.
let private uninterrupted =
    lazy
        (let dir = freshDir "short-whole"
         let code, _, err = runCli (shortRun dir)
         if code <> 0 then failtestf "the uninterrupted run failed: %s" err
         dir)

/// The step of the checkpoint a short run killed after `lines` steps resumes from.
let private lastCheckpointBy (lines: int) = [ 0; 5; 10; 15; 17 ] |> List.filter (fun s -> s <= lines) |> List.max

/// The step `lnmn-train --resume` said it resumed from.
let private resumedAt (out: string) =
    let m = Text.RegularExpressions.Regex.Match(out, @"resumed from .* at step (\d+) of \d+")
    if m.Success then int m.Groups.[1].Value else failtestf "no resume in the output: %s" out

let private checkpointStep (path: string) =
    match Checkpoint.readMetadata path with
    | Ok m -> m.Progress.GlobalStep
    | Error e -> failtestf "%s" e

/// Lines in a file another process is writing.
let private linesOnDisk (path: string) =
    if not (File.Exists path) then 0
    else
        use f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite ||| FileShare.Delete)
        use r = new StreamReader(f)
        r.ReadToEnd() |> Seq.filter ((=) '\n') |> Seq.length

/// Starts lnmn-train with `args` on the run folder `dir`, waits for `metrics-steps.jsonl` to hold
/// `lines` lines (progress on disk, not a clock), then `act`s on the live process; its stdout so far.
let private atLines (dir: string) (args: string list) (lines: int) (act: Process -> unit) =
    let psi = ProcessStartInfo("dotnet", cli :: args, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    use p = Process.Start psi
    let out, err = Text.StringBuilder(), Text.StringBuilder()
    p.OutputDataReceived.Add(fun e -> if not (isNull e.Data) then lock out (fun () -> out.AppendLine e.Data |> ignore))
    p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then lock err (fun () -> err.AppendLine e.Data |> ignore))
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    let steps = Path.Combine(dir, "metrics-steps.jsonl")
    while not p.HasExited && linesOnDisk steps < lines do Threading.Thread.Sleep 5
    if p.HasExited then failtestf "lnmn-train ended before step %d: %s" lines (lock err (fun () -> string err))
    act p
    p.WaitForExit()
    lock out (fun () -> string out), p.ExitCode, lock err (fun () -> string err)

/// SIGKILLs the run once its metrics hold `lines` steps: its stdout, and the steps on disk when it died.
let private killAtLines (dir: string) (args: string list) (lines: int) =
    let out, _, _ = atLines dir args lines (fun p -> p.Kill true)
    out, linesOnDisk (Path.Combine(dir, "metrics-steps.jsonl"))

/// Stops the run (SIGSTOP) once its metrics hold `lines` steps, fills the disk at `mount` to the
/// last byte, and lets it go on (SIGCONT): (steps on disk when stopped, exit code, stderr).
let private fillDiskAtLines (dir: string) (args: string list) (lines: int) (mount: string) =
    let mutable stoppedAt = 0
    let _, code, err =
        atLines dir args lines (fun p ->
            Threading.Thread.Sleep 20 // the step's TensorBoard events follow its line at once
            runProcess "kill" [ "-STOP"; string p.Id ] "/" |> ignore
            stoppedAt <- linesOnDisk (Path.Combine(dir, "metrics-steps.jsonl"))
            do
                use filler = new FileStream(Path.Combine(mount, "filler"), FileMode.Create)
                let page = Array.create 4096 0uy
                try
                    while true do
                        filler.Write(page, 0, page.Length)
                        filler.Flush()
                with :? IOException -> ()
            runProcess "kill" [ "-CONT"; string p.Id ] "/" |> ignore)
    stoppedAt, code, err

/// A tmpfs of `size` mounted on a new folder for `body`, unmounted after. Where it cannot be
/// mounted (not root), the test is skipped, saying why.
let private withTmpfs (size: string) (body: string -> unit) =
    let mount = freshDir "tmpfs"
    Directory.CreateDirectory mount |> ignore
    let code, _, err = runProcess "mount" [ "-t"; "tmpfs"; "-o"; $"size={size}"; "tmpfs"; mount ] "/"
    if code <> 0 then
        let why = $"cannot mount a tmpfs to fill up ({err.Trim()}): a disk-full test needs root"
        eprintfn "skipped: %s" why
        skiptest why
    try body mount
    finally runProcess "umount" [ "-l"; mount ] "/" |> ignore

/// Gives the tmpfs at `mount` more room.
let private remount (mount: string) (size: string) =
    let code, _, err = runProcess "mount" [ "-o"; $"remount,size={size}"; mount ] "/"
    if code <> 0 then failtestf "remount: %s" err

/// metrics-evals.jsonl without its wall-clock field.
let private evaluationsWithoutSeconds (dir: string) =
    lines (Path.Combine(dir, "metrics-evals.jsonl"))
    |> Array.map (fun l ->
        let o = Text.Json.Nodes.JsonNode.Parse(l).AsObject()
        o.Remove "seconds" |> ignore
        o.ToJsonString())

/// A run equals another: metrics-steps, -evals (wall clock aside), -epochs line for line, the
/// TensorBoard scalars (each (tag, step) once; eval/seconds aside), the final evaluation.
let private expectSameRun (actual: string) (expected: string) =
    for file in [ "metrics-steps.jsonl"; "metrics-epochs.jsonl" ] do
        Expect.sequenceEqual (lines (Path.Combine(actual, file))) (lines (Path.Combine(expected, file))) file
    Expect.sequenceEqual (evaluationsWithoutSeconds actual) (evaluationsWithoutSeconds expected) "metrics-evals.jsonl"
    let scalars dir = distinctScalars dir |> List.filter (fun (tag, _, _) -> tag <> "eval/seconds")
    Expect.sequenceEqual (scalars actual) (scalars expected) "TensorBoard: the same scalars at the same steps"
    for file in [ "eval.md"; "eval.json" ] do
        Expect.equal (File.ReadAllText(Path.Combine(actual, file))) (File.ReadAllText(Path.Combine(expected, file))) file

[<Tests>]
let tests =
    testSequenced <| testList "trainer" [
        test "a short seeded run repeated gives identical metrics" {
            let a, b = freshDir "repeat-a", freshDir "repeat-b"
            train a [ "--max-steps"; "4" ] |> ignore
            train b [ "--max-steps"; "4" ] |> ignore
            let stepsA = lines (Path.Combine(a, "metrics-steps.jsonl"))
            Expect.equal stepsA.Length 4 "four steps logged"
            Expect.sequenceEqual (lines (Path.Combine(b, "metrics-steps.jsonl"))) stepsA "same metrics, line for line"
        }

        testCase "a resumed --max-steps run is the run that was started: killed with SIGKILL in the weight-only phase and in the α phase, it ends at its last step with an uninterrupted run's metrics, evaluations, TensorBoard events and final eval" <| fun () ->
            let whole = uninterrupted.Force()
            let killed = freshDir "killed"
            // Killed by progress (lines on disk): steps 6–9 lie after the checkpoint at step 5 and before α's first step (10).
            let _, atFirstKill = killAtLines killed (shortRun killed) 6
            Expect.isLessThan atFirstKill 10 "first kill in the weight-only phase"
            Expect.isFalse ((File.ReadAllText(Path.Combine(killed, "metrics-steps.jsonl"))).Contains "alpha_loss") "no α step before the first kill"
            // The resumed run takes none of the first command's options: its length and evaluations are recorded.
            // The built-in data's α rhythm (`Defaults.builtInAlphaEvery`, 3) takes α steps at 12 and 15:
            // by line 14 one is on disk, and the run resumed from step 10 must keep that rhythm.
            let out, atSecondKill = killAtLines killed (resumeArgs killed) 14
            Expect.equal (resumedAt out) (lastCheckpointBy atFirstKill) $"the first restart resumed from the checkpoint before the kill ({out})"
            Expect.isTrue ((File.ReadAllText(Path.Combine(killed, "metrics-steps.jsonl"))).Contains "alpha_loss") "second kill in the α phase"
            let code, out, err = runCli (resumeArgs killed)
            Expect.equal code 0 $"resumed to the end ({err})"
            Expect.equal (resumedAt out) (lastCheckpointBy atSecondKill) $"the second restart resumed from the checkpoint before the kill ({out})"
            Expect.equal (lines (Path.Combine(killed, "metrics-steps.jsonl"))).Length 17 "ends at --max-steps 17, not at the end of its epochs"
            expectSameRun killed whole

        testCase "killed with SIGKILL while a checkpoint is written (injected by strace at the checkpoint's fsync), a run resumes from the one before and ends as an uninterrupted run" <| fun () ->
            if not (File.Exists "/usr/bin/strace") then skiptest "strace is not installed: it is what kills the run at the checkpoint's fsync"
            let whole = uninterrupted.Force()
            let killed = freshDir "killed-writing"
            let partial = Path.Combine(killed, "checkpoints", "last.ckpt.partial")
            // The third checkpoint (steps 0, 5, 10) is killed after its bytes are written, before its fsync and rename.
            let code, _, err =
                runProcess "strace" ([ "-f"; "-qq"; "-o"; "/dev/null"; "-P"; partial; "-e"; "trace=fsync"; "-e"; "inject=fsync:signal=KILL:when=3"; "dotnet"; cli ] @ shortRun killed) Environment.CurrentDirectory
            Expect.equal code 137 $"killed by SIGKILL ({err})"
            Expect.isTrue (File.Exists partial) "killed while the checkpoint was being written"
            Expect.equal (checkpointStep (Path.Combine(killed, "checkpoints", "last.ckpt"))) 5 "last.ckpt is the whole checkpoint before"
            let code, out, err = runCli (resumeArgs killed)
            Expect.equal code 0 $"resumed ({err})"
            Expect.equal (resumedAt out) 5 "resumed from step 5"
            Expect.isFalse (File.Exists partial) "no partial checkpoint left"
            expectSameRun killed whole

        testCase "the disk filling up while a checkpoint is written: one line naming it, the previous checkpoint intact, and --resume goes on once there is space" <| fun () ->
            withTmpfs "9m" (fun mount ->
                // Room for two checkpoints (3.8 MB each), not for the third one's partial file.
                let whole = uninterrupted.Force()
                let run = Path.Combine(mount, "run")
                let code, _, err = runCli (shortRun run)
                Expect.equal code 1 "non-zero exit"
                let checkpoint = Path.Combine(run, "checkpoints", "last.ckpt")
                Expect.equal (err.Trim()) $"lnmn-train: {checkpoint}: no space left on device; the last checkpoint, {checkpoint} (step 5), is intact: free some space, then lnmn-train --resume --run-dir {run}" "one line naming the file"
                Expect.equal (checkpointStep checkpoint) 5 "the checkpoint of step 5 is whole"
                Expect.isFalse (File.Exists(checkpoint + ".partial")) "the partial checkpoint removed"
                remount mount "64m"
                let code, out, err = runCli (resumeArgs run)
                Expect.equal code 0 $"resumed once there is space ({err})"
                Expect.equal (resumedAt out) 5 "from step 5"
                expectSameRun run whole)

        testCase "the disk filling up while a metrics line is written: one line naming metrics-steps.jsonl, the checkpoint intact, and --resume goes on once there is space" <| fun () ->
            withTmpfs "16m" (fun mount ->
                let whole = uninterrupted.Force()
                // The step whose line leaves its page too little room for the next one, which is no evaluation step
                // and follows no epoch's end: filled there, the next step's line is the first write that needs a page.
                let sizes = lines (Path.Combine(whole, "metrics-steps.jsonl")) |> Array.map (fun l -> l.Length + 1) |> Array.scan (+) 0
                let target =
                    [ 6 .. 15 ] |> List.find (fun s -> 4096 - sizes.[s] % 4096 < 450 && (s + 1) % 3 <> 0 && s % 5 <> 0)
                let run = Path.Combine(mount, "run")
                let stoppedAt, code, err = fillDiskAtLines run (shortRun run) target mount
                Expect.equal stoppedAt target "stopped at the step chosen"
                let steps = Path.Combine(run, "metrics-steps.jsonl")
                let checkpoint = Path.Combine(run, "checkpoints", "last.ckpt")
                Expect.equal code 1 "non-zero exit"
                Expect.equal (err.Trim()) $"lnmn-train: {steps}: no space left on device; the last checkpoint, {checkpoint} (step {lastCheckpointBy target}), is intact: free some space, then lnmn-train --resume --run-dir {run}" "one line naming the file"
                Expect.equal (checkpointStep checkpoint) (lastCheckpointBy target) "the checkpoint is whole"
                File.Delete(Path.Combine(mount, "filler"))
                let code, out, err = runCli (resumeArgs run)
                Expect.equal code 0 $"resumed once there is space ({err})"
                Expect.equal (resumedAt out) (lastCheckpointBy target) "from the checkpoint"
                expectSameRun run whole)

        testCase "the disk filling up while the report is written: one line naming the page, and --resume writes the report once there is space; then --resume of the finished run says so and changes nothing" <| fun () ->
            withTmpfs "13m" (fun mount ->
                // Room for training (three checkpoints at once) and alpha.html (3.6 MB), not for curves.html as well.
                let whole = uninterrupted.Force()
                let run = Path.Combine(mount, "run")
                let code, _, err = runCli (shortRun run)
                let checkpoint = Path.Combine(run, "checkpoints", "last.ckpt")
                Expect.equal code 1 "non-zero exit"
                let curves = Path.Combine(run, "curves.html")
                Expect.equal (err.Trim()) $"lnmn-train: {curves}: no space left on device; the last checkpoint, {checkpoint} (step 17), is intact: free some space, then lnmn-train --resume --run-dir {run}" "one line naming the file"
                remount mount "64m"
                let code, out, err = runCli (resumeArgs run)
                Expect.equal code 0 $"resumed ({err})"
                Expect.equal (resumedAt out) 17 "training was done: only the report is written"
                expectSameRun run whole
                let snapshot () =
                    [ for f in Directory.GetFiles(run, "*", SearchOption.AllDirectories) |> Array.sort -> f, File.GetLastWriteTimeUtc f, File.ReadAllBytes f ]
                let before = snapshot ()
                let code, out, err = runCli (resumeArgs run)
                Expect.equal code 0 $"finished: nothing to do ({err})"
                Expect.equal (out.Trim()) $"{run}: the run is finished (step 17 of 17), nothing to resume" "says so in one line"
                Expect.isTrue (snapshot () = before) "no file changed")

        test "a damaged last.ckpt (cut short, or one byte flipped) is refused in one line naming it, saying how to go on from the previous checkpoint; done so, the run ends as an uninterrupted one" {
            let whole, run = freshDir "damaged-whole", freshDir "damaged"
            train whole [ "--max-steps"; "7" ] |> ignore
            // Checkpoints at steps 0, 5 (the first epoch's end) and 7: last.ckpt is step 7, previous.ckpt step 5.
            train run [ "--max-steps"; "7" ] |> ignore
            let path = Path.Combine(run, "checkpoints", "last.ckpt")
            let previous = Path.Combine(run, "checkpoints", "previous.ckpt")
            let good = File.ReadAllBytes path
            let flipped (b: byte[]) =
                let c = Array.copy b
                c.[c.Length / 2] <- c.[c.Length / 2] ^^^ 0x10uy
                c
            for damaged, why in [ good.[.. good.Length / 2], "checkpoint is truncated or corrupt"
                                  flipped good, "checkpoint is corrupt (its checksum does not match: bytes changed since it was written)" ] do
                File.WriteAllBytes(path, damaged)
                let code, _, err = runCli [ "--resume"; "--run-dir"; run ]
                Expect.equal code 1 "non-zero exit"
                Expect.equal (err.Trim().Split('\n').Length) 1 $"one line: {err}"
                Expect.stringContains err $"lnmn-train: {path}: {why}" "names the file and what is wrong"
                Expect.stringContains err $"; the previous checkpoint, {previous} (step 5), is whole: to continue from it, cp {previous} {path} and resume again" "says how to go on"
                let code, _, err = runCli [ "eval"; "--checkpoint"; path ]
                Expect.equal code 1 "eval refuses it too"
                Expect.stringStarts (err.Trim()) $"lnmn-train: {path}: {why}" "names the file and what is wrong"
                Expect.equal (err.Trim().Split('\n').Length) 1 $"in one line: {err}"
            // As the message says.
            File.Copy(previous, path, true)
            let code, out, err = runCli [ "--resume"; "--run-dir"; run ]
            Expect.equal code 0 $"resumed from the previous checkpoint ({err})"
            Expect.equal (resumedAt out) 5 "at step 5"
            for file in [ "metrics-steps.jsonl"; "metrics-epochs.jsonl"; "eval.md" ] do
                Expect.sequenceEqual (lines (Path.Combine(run, file))) (lines (Path.Combine(whole, file))) file
            // Without a whole previous checkpoint, the message says there is none.
            File.WriteAllBytes(path, flipped good)
            File.Delete previous
            let _, _, err = runCli [ "--resume"; "--run-dir"; run ]
            Expect.equal (err.Trim()) $"lnmn-train: {path}: checkpoint is corrupt (its checksum does not match: bytes changed since it was written); there is no whole checkpoint to continue from" "no previous"
        }

        test "resuming a run that holds no checkpoint, or training into one that does, is refused" {
            let run = freshDir "exists"
            Expect.isError (config [ "--resume"; "--run-dir"; run ] |> Result.bind Trainer.run) "nothing to resume"
            train run [ "--max-steps"; "1" ] |> ignore
            Expect.isError (config [ "--run-dir"; run; "--data"; dataDir.Force(); "--size"; "small" ] |> Result.bind Trainer.run) "would overwrite"
        }

        test "a run folder held by a live process is refused in one line; a killed holder's lock does not block" {
            let run = freshDir "locked"
            let args = [ "--data"; dataDir.Force(); "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--threads"; "1"; "--run-dir"; run; "--max-steps"; "1" ]
            match RunFolder.lock run with
            | Error e -> failtestf "the first lock: %s" e
            | Ok held ->
                let code, _, err = runCli args
                held.Dispose()
                Expect.equal code 1 "refused"
                Expect.equal (err.Trim().Split('\n').Length) 1 $"one line: {err}"
                Expect.stringContains err run "names the folder"
                Expect.stringContains err (string Environment.ProcessId) "names the process holding it"
                Expect.isFalse (File.Exists(Path.Combine(run, "config.json"))) "nothing written"
            // A holder killed with SIGKILL: the OS drops its lock.
            use holder = Process.Start(ProcessStartInfo("flock", [ Path.Combine(run, ".lock"); "sleep"; "60" ], UseShellExecute = false))
            Threading.Thread.Sleep 500
            let codeWhileHeld, _, _ = runCli args
            Expect.equal codeWhileHeld 1 "refused while the holder lives"
            holder.Kill true // flock and the sleep that inherits its locked descriptor
            holder.WaitForExit()
            let code, _, err = runCli args
            Expect.equal code 0 $"trains once the holder is killed ({err})"
        }

        test "bad options give a one-line error naming the option, and no stack trace" {
            let run = freshDir "bad-options"
            train run [ "--max-steps"; "1" ] |> ignore
            let refusedWithResume option = $"lnmn-train: {option} does not apply with --resume (the run goes on as it started: its length, evaluations, seeds, data and schedules are its checkpoint's)"
            // Argu's own usage errors exit 2 (with the usage after the line), the trainer's refusals 1.
            for args, exit, expected in
                [ [ "--ablation"; "10" ], 1, "lnmn-train: --ablation: unknown ablation 10 (expected 9, 11 or 14)"
                  [ "--epochs"; "0" ], 1, "lnmn-train: --epochs must be positive (got 0)"
                  [ "--no-such-option" ], 2, "ERROR: unrecognized argument: '--no-such-option'."
                  [ "--device"; "tpu" ], 1, "lnmn-train: --device: unknown device 'tpu' (expected auto, cpu or cuda)"
                  [ "--batch-size"; "x" ], 2, "ERROR: parameter '--batch-size' must be followed by <int>, but was 'x'."
                  [ "--data"; "/no/such/dir" ], 1, "lnmn-train: /no/such/dir: no such dataset directory"
                  [ "--resume" ], 1, "lnmn-train: --resume needs --run-dir (the run to continue)"
                  [ "--model"; "stack-nmn"; "--ablation"; "9" ], 1, "lnmn-train: --ablation does not apply to --model stack-nmn (its nine modules are fixed)"
                  [ "--resume"; "--run-dir"; run; "--max-steps"; "5" ], 1, refusedWithResume "--max-steps"
                  [ "--resume"; "--run-dir"; run; "--epochs"; "3" ], 1, refusedWithResume "--epochs"
                  [ "--resume"; "--run-dir"; run; "--eval-every"; "2" ], 1, refusedWithResume "--eval-every"
                  [ "--resume"; "--run-dir"; run; "--seed"; "4" ], 1, refusedWithResume "--seed"
                  [ "--resume"; "--run-dir"; run; "--alpha-warmup"; "0.2" ], 1, refusedWithResume "--alpha-warmup" ] do
                let code, _, err = runCli args
                Expect.equal code exit $"{args}: exit {exit}"
                Expect.equal (err.Trim().Split('\n').[0].Trim()) expected $"{args}: says why"
                // A stack frame reads "   at Namespace.Type.Method(…)"; usage text may wrap a line at "at".
                Expect.isFalse (Text.RegularExpressions.Regex.IsMatch(err, @"^\s+at [\w.`+<>|]+\(", Text.RegularExpressions.RegexOptions.Multiline)) $"{args}: no stack trace in {err}"
        }

        test "--resume takes --threads and --device: they do not change the run" {
            let run = freshDir "resume-threads"
            train run [ "--max-steps"; "1" ] |> ignore
            match config [ "--resume"; "--run-dir"; run; "--threads"; "1"; "--device"; "cpu" ] |> Result.bind Trainer.run with
            | Ok finished -> Expect.isNone finished "a finished run: nothing trained"
            | Error e -> failtestf "refused: %s" e
        }

        test "fine-tuning on data with new words extends the vocabulary after the old words" {
            let first = freshDir "pretrain"
            train first [ "--max-steps"; "1" ] |> ignore
            let humans = freshDir "humans-data"
            for sub in [ "features"; "questions" ] do
                copyDirectory (Path.Combine(dataDir.Force(), sub)) (Path.Combine(humans, sub))
            let questions = Path.Combine(humans, "questions", "CLEVR_train_questions.json")
            let text = File.ReadAllText questions
            let firstQuestion = text.IndexOf("\"question\":")
            File.WriteAllText(questions, text.Insert(text.IndexOf('"', firstQuestion + 11) + 1, "zorblax quuxly "))
            let tuned = freshDir "tuned"
            // The model is the checkpoint's: no size options.
            let tuning = [ "--finetune-from"; Path.Combine(first, "checkpoints", "last.ckpt"); "--data"; humans; "--max-steps"; "1"; "--threads"; "2"; "--run-dir"; tuned ]
            match config tuning |> Result.bind Trainer.run with
            | Ok _ -> ()
            | Error e -> failtestf "fine-tuning failed: %s" e
            let read dir = (Vocabulary.load (Path.Combine(dir, "vocabulary.json")) |> Result.defaultWith (fun e -> failtest (DataError.describe e))).Tokens
            let before, after = read first, read tuned
            Expect.sequenceEqual after.[.. before.Length - 1] before "old words keep their ids"
            Expect.sequenceEqual after.[before.Length ..] [| "zorblax"; "quuxly" |] "new words after them"
        }
    
        test "eval scores a checkpoint with soft and hard-max α, and with each op removed (Table 7)" {
            let run = freshDir "eval"
            train run [ "--max-steps"; "2" ] |> ignore
            let code, out, err = runCli [ "eval"; "--checkpoint"; Path.Combine(run, "checkpoints", "last.ckpt"); "--data"; dataDir.Force(); "--op-ablation"; "--threads"; "2" ]
            Expect.equal code 0 $"exit 0 ({err})"
            let overallRow = out.Split('\n') |> Array.find (fun l -> l.StartsWith "| **Overall**")
            let soft = overallRow.Split('|').[2].Trim()
            let ablation = out.Split('\n') |> Array.filter (fun l -> l.StartsWith "| original model" || l.StartsWith "| without ")
            Expect.equal ablation.Length 7 "the model and six ops removed"
            Expect.equal (ablation.[0].Split('|').[2].Trim()) soft "nothing removed scores as the plain soft-α evaluation"
        }
    ]

