/// `lnmn-train --config FILE`: a TrainConfig as JSON under the command line's options, checked as
/// the command line is; a run folder's config.json is such a file and runs the run again; every
/// experiments/*.json reads.
module Lnmn.Tests.ConfigFileTests

open System.IO
open System.Text.RegularExpressions
open Expecto
open Lnmn.Core.Specs
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train
open Lnmn.Train.Configs
open Lnmn.Tests.TestUtil

let private train = trainConfig

/// A file holding `json`, in a fresh folder.
let private file (json: string) =
    let dir = TrainerTests.freshDir "config-file"
    Directory.CreateDirectory dir |> ignore
    let path = Path.Combine(dir, "exp.json")
    File.WriteAllText(path, json)
    path

let private refusedWith (args: string list) (expected: string) =
    match train args with
    | Error e ->
        Expect.isFalse (e.Contains '\n') $"one line: {e}"
        Expect.stringStarts e expected $"{args}"
    | Ok c -> failtestf "%A accepted: %A" args c

let private lines path = File.ReadAllLines path |> Array.filter ((<>) "")

[<Tests>]
let tests =
    testList "config file" [
        test "the file's fields over the defaults, the command line's options over the file" {
            let path = file """{ "Epochs": 3, "Width": 32, "AlphaRule": "Paper", "Seed": 4, "ArchitectureSplit": { "HeldOutOfTrain": [ 0.3 ] } }"""
            let fromFile = { Defaults.train with Epochs = Some 3; Width = Some 32; AlphaRule = AlphaSchedule.Paper; Seed = 4; ArchitectureSplit = HeldOutOfTrain 0.3 }
            Expect.equal (train [ "--config"; path ]) (Ok fromFile) "the file alone; what it leaves out is the default"
            Expect.equal (train [ "--config"; path; "--seed"; "7"; "--answer-pooling"; "sum"; "--arch-fraction"; "0.2" ])
                (Ok { fromFile with Seed = 7; AnswerPooling = Some SpatialSum; ArchitectureSplit = HeldOutOfTrain 0.2 }) "options on the line win"
            Expect.equal (train [ "--config"; path; "--alpha-schedule"; "scaled" ]) (Ok { fromFile with AlphaRule = AlphaSchedule.Scaled Defaults.alphaWarmup }) "a choice replaced"
            Expect.equal (train [ "--config"; path; "--arch-split"; "val" ]) (Ok { fromFile with ArchitectureSplit = ValidationLeaky }) "the split replaced"
        }
        test "an option or a field that does not apply to the run is refused, the field named with its file" {
            let stack = file """{ "Model": "StackNmn" }"""
            refusedWith [ "--config"; stack; "--alpha-lr"; "0.01" ] "--alpha-lr does not apply to --model stack-nmn"
            let alpha = file """{ "AlphaLearningRate": 0.01 }"""
            refusedWith [ "--config"; alpha; "--model"; "stack-nmn" ] $"{alpha}: AlphaLearningRate does not apply to --model stack-nmn"
            // The default value of a field that does not apply is what a run folder's config.json holds: kept.
            let written = file """{ "Model": "StackNmn", "AlphaRule": { "Scaled": [ 0.5 ] }, "AlphaLearningRate": null }"""
            Expect.isOk (train [ "--config"; written ]) "defaults that do not apply"
        }
        test "a bad file is refused in one line naming the file and the field" {
            let cases =
                [ "{ \"Epochs\": 3", "not JSON"
                  "[ 3 ]", "not a JSON object"
                  """{ "Epoch": 3 }""", "Epoch: not a field of TrainConfig"
                  """{ "Epochs": -1 }""", "Epochs must be positive (got -1)"
                  """{ "Epochs": "three" }""", "Epochs: \"three\" is not an integer, or null"
                  """{ "Model": "Resnet" }""", "Model: \"Resnet\" is not one of \"Lnmn\""
                  """{ "Model": null }""", "Model: null is not one of"
                  """{ "Pointer": { "Soft": [ 0.7 ] } }""", "Pointer: unknown value {\"Soft\":[0.7]} (expected \"Hard\" or {\"Soft\":[0.2]})"
                  """{ "HardenAt": 1.5 }""", "HardenAt must be between 0 and 1, exclusive (got 1.5)"
                  """{ "ArchitectureSplit": { "HeldOutOfTrain": [ 1.0 ] } }""", "ArchitectureSplit must be between 0 and 1 (got 1)"
                  """{ "Resume": true }""", "Resume needs --run-dir" ]
            for json, message in cases do
                let path = file json
                refusedWith [ "--config"; path ] $"{path}: {message}"
            let missing = Path.Combine(TrainerTests.freshDir "absent", "exp.json")
            refusedWith [ "--config"; missing ] missing
        }
        test "lnmn-train refuses a bad file with exit code 1, one line on stderr, and writes nothing" {
            let path = file """{ "Epochs": 0 }"""
            let run = TrainerTests.freshDir "config-refused"
            let code, _, err = TrainerTests.runCli [ "--config"; path; "--run-dir"; run; "--threads"; "1" ]
            Expect.equal code 1 "a user's mistake"
            Expect.equal (err.Trim()) $"lnmn-train: {path}: Epochs must be positive (got 0)" "one line, the file and the field"
            Expect.isFalse (Path.Exists run) "no run folder"
        }
        test "every experiments/*.json reads through the checked path, and docs/results.md names each" {
            let root = repositoryRoot ()
            let files = Directory.GetFiles(Path.Combine(root, "experiments"), "*.json") |> Array.sort
            let read name =
                match train [ "--config"; Path.Combine(root, "experiments", name) ] with
                | Ok c -> c
                | Error e -> failtestf "%s" e
            for f in files do read (Path.GetFileName f) |> ignore
            let job = { Defaults.train with Threads = Some 1; EvalEvery = Some 1000 }
            Expect.equal (read "main-job.json") Defaults.train "the README's main job: --ablation 11"
            Expect.equal (read "three-passes.json") { job with Epochs = Some 3 } "--epochs 3"
            Expect.equal (read "answer-pooling-sum-32.json")
                { job with Width = Some 32; AnswerPooling = Some SpatialSum; AlphaWarmup = Some 0.2; AlphaLearningRate = Some 1.42e-3 } "the paper's answer cells"
            Expect.equal (read "alpha-paper-32.json") { job with Width = Some 32; AlphaRule = AlphaSchedule.Paper } "--alpha-schedule paper"
            Expect.equal (read "alpha-frozen-32.json") { job with Width = Some 32; AlphaRule = AlphaSchedule.Frozen } "--alpha-schedule frozen"
            Expect.equal (read "harden-at-0.8.json") { job with HardenAt = Some 0.8 } "--harden-at 0.8"
            Expect.equal (read "stack-nmn-three-passes.json") { job with Model = StackNmn; Epochs = Some 3; LambdaWScale = Some 0.0 } "--model stack-nmn --epochs 3 --lambda-w-scale 0 (measured before Stack-NMN's default became the paper's λ_w)"
            let results = File.ReadAllText(Path.Combine(root, "docs", "results.md"))
            let named = Regex.Matches(results, @"experiments/([A-Za-z0-9.\-]+\.json)") |> Seq.map (fun m -> m.Groups[1].Value) |> Set.ofSeq
            Expect.equal named (files |> Array.map Path.GetFileName |> Set.ofArray) "docs/results.md names every file, and no other"
        }
        test "a run folder's config.json runs the run again: --config it --run-dir Y gives the same metrics, spec and eval" {
            let first, again = TrainerTests.freshDir "config-first", TrainerTests.freshDir "config-again"
            TrainerTests.train first [ "--max-steps"; "3"; "--alpha-warmup"; "0.1" ] |> ignore
            let recorded = Path.Combine(first, "config.json")
            let config = match train [ "--config"; recorded ] with Ok c -> c | Error e -> failtest e
            // What the run was given away from the defaults, read back (else the rerun would differ).
            Expect.equal (config.Seed, config.MapDim, config.Steps, config.Epochs, config.MaxSteps, config.AlphaWarmup, config.RunDir)
                (3, Some 16, 2, Some 2, Some 3, Some 0.1, None) "the settings, not where the run was"
            match train [ "--config"; recorded; "--run-dir"; again ] |> Result.bind Trainer.run with
            | Ok _ -> ()
            | Error e -> failtest e
            let steps = lines (Path.Combine(first, "metrics-steps.jsonl"))
            Expect.equal steps.Length 3 "three steps"
            Expect.sequenceEqual (lines (Path.Combine(again, "metrics-steps.jsonl"))) steps "the same losses, step for step"
            for name in [ "spec.json"; "eval.json"; "eval.md"; "genotype.json" ] do
                Expect.equal (File.ReadAllText(Path.Combine(again, name))) (File.ReadAllText(Path.Combine(first, name))) name
            Expect.equal (train [ "--config"; Path.Combine(again, "config.json") ]) (Ok config) "and records the same settings"
        }
    ]
