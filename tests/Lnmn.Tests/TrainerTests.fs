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

/// Trains in-process with small settings; returns the run folder.
let train (runDir: string) (extra: string list) =
    let args =
        [ "--data"; dataDir.Force(); "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--epochs"; "2"
          "--threads"; "2"; "--run-dir"; runDir; "--seed"; "3" ] @ extra
    match config args |> Result.bind Trainer.run with
    | Ok summary -> summary
    | Error e -> failtestf "training failed: %s" e

/// Continues the run in `runDir` in-process: a resumed run takes only its length and where it runs.
let private resume (runDir: string) (extra: string list) =
    match config ([ "--resume"; "--run-dir"; runDir; "--threads"; "2" ] @ extra) |> Result.bind Trainer.run with
    | Ok summary -> summary
    | Error e -> failtestf "resuming failed: %s" e

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

        test "kill-and-resume equals an uninterrupted run" {
            let whole, resumed = freshDir "whole", freshDir "resumed"
            let summary = train whole []
            Expect.isGreaterThan summary.StepsRun 5 "two epochs of several steps"
            // 270 training questions: 5 batches an epoch. Stop after 7 steps (inside the second
            // epoch), then resume to the end.
            train resumed [ "--max-steps"; "7" ] |> ignore
            resume resumed [] |> ignore
            for file in [ "metrics-steps.jsonl"; "metrics-epochs.jsonl" ] do
                Expect.sequenceEqual (lines (Path.Combine(resumed, file))) (lines (Path.Combine(whole, file))) file
            Expect.equal (File.ReadAllText(Path.Combine(resumed, "eval.md"))) (File.ReadAllText(Path.Combine(whole, "eval.md"))) "same final evaluation"
        }

        test "resumed from a checkpoint older than its last metrics, a run's TensorBoard events equal an uninterrupted run's, with no step twice" {
            let whole, resumed = freshDir "board-whole", freshDir "board-resumed"
            train whole [] |> ignore
            // A kill after step 8 whose last checkpoint is step 5 (the first epoch's end): steps 6–8
            // are in the events and the JSONL, and are trained again on resume.
            train resumed [ "--max-steps"; "5" ] |> ignore
            let checkpoint = Path.Combine(resumed, "checkpoints", "last.ckpt")
            let atStep5 = File.ReadAllBytes checkpoint
            resume resumed [ "--max-steps"; "8" ] |> ignore
            File.WriteAllBytes(checkpoint, atStep5)
            resume resumed [] |> ignore
            let expected = distinctScalars whole
            Expect.isGreaterThan (expected |> List.filter (fun (tag, _, _) -> tag = "step/loss")).Length 8 "steps logged"
            Expect.sequenceEqual (distinctScalars resumed) expected "the same scalars at the same steps"
            Expect.sequenceEqual (lines (Path.Combine(resumed, "metrics-steps.jsonl"))) (lines (Path.Combine(whole, "metrics-steps.jsonl"))) "metrics-steps.jsonl"
        }

        test "killed with SIGKILL at random moments and resumed each time, a run's metrics equal an uninterrupted run's line for line" {
            let whole, killed = freshDir "uninterrupted", freshDir "killed"
            let args dir = [ "--data"; dataDir.Force(); "--size"; "small"; "-T"; "3"; "--epochs"; "30"; "--threads"; "1"; "--run-dir"; dir; "--seed"; "5" ]
            let code, _, err = runCli (args whole)
            Expect.equal code 0 $"uninterrupted ({err})"
            let checkpoint = Path.Combine(killed, "checkpoints", "last.ckpt")
            let orResumed dir = if File.Exists checkpoint then [ "--resume"; "--run-dir"; dir; "--threads"; "1" ] else args dir
            let random = Random 11
            let mutable kills = 0
            for _ in 1 .. 4 do
                let psi = ProcessStartInfo("dotnet", Path.Combine(AppContext.BaseDirectory, "lnmn-train.dll") :: orResumed killed, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
                use p = Process.Start psi
                p.OutputDataReceived.Add ignore
                p.ErrorDataReceived.Add ignore
                p.BeginOutputReadLine()
                p.BeginErrorReadLine()
                if not (p.WaitForExit(random.Next(1500, 7000))) then
                    p.Kill true
                    kills <- kills + 1
                p.WaitForExit()
            Expect.isGreaterThan kills 0 "killed at least once"
            let code, _, err = runCli (orResumed killed)
            Expect.equal code 0 $"resumed to the end ({err})"
            for file in [ "metrics-steps.jsonl"; "metrics-epochs.jsonl" ] do
                Expect.sequenceEqual (lines (Path.Combine(killed, file))) (lines (Path.Combine(whole, file))) file
            Expect.sequenceEqual (distinctScalars killed) (distinctScalars whole) "TensorBoard: the same scalars, none twice"
        }

        test "a checkpoint cut in half is refused with a clear error" {
            let run = freshDir "cut"
            train run [ "--max-steps"; "2" ] |> ignore
            let path = Path.Combine(run, "checkpoints", "last.ckpt")
            Expect.isOk (Checkpoint.readMetadata path) "the whole file reads"
            let bytes = File.ReadAllBytes path
            File.WriteAllBytes(path, bytes.[.. bytes.Length / 2])
            match Checkpoint.readMetadata path with
            | Error e -> Expect.stringContains e "truncated" "says what is wrong"; Expect.stringContains e path "names the file"
            | Ok _ -> failtest "a half checkpoint was accepted"
            let code, _, err = runCli [ "eval"; "--checkpoint"; path ]
            Expect.equal code 1 "non-zero exit"
            Expect.equal (err.Trim().Split('\n').Length) 1 $"one line: {err}"
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

        test "bad options give a usage error and no stack trace" {
            for args in [ [ "--ablation"; "10" ]; [ "--epochs"; "0" ]; [ "--no-such-option" ]; [ "--device"; "tpu" ]
                          [ "--batch-size"; "x" ]; [ "--data"; "/no/such/dir" ]; [ "--resume" ]; [ "--model"; "stack-nmn"; "--ablation"; "9" ] ] do
                let code, _, err = runCli args
                Expect.notEqual code 0 $"{args}: non-zero exit"
                // A stack frame reads "   at Namespace.Type.Method(…)"; usage text may wrap a line at "at".
                Expect.isFalse (Text.RegularExpressions.Regex.IsMatch(err, @"^\s+at [\w.`+<>|]+\(", Text.RegularExpressions.RegexOptions.Multiline)) $"{args}: no stack trace in {err}"
                Expect.isNonEmpty (err.Trim()) $"{args}: says why"
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

