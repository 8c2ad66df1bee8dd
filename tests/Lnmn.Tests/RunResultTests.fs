/// A run's result as one value (result.json): it reads back as written, holds what the run folder's
/// metrics and tables show, and is the one test of "finished": `RunFolder.readResult` for the run's
/// own settings, which compare and learning-curve use to skip a finished run.
module Lnmn.Tests.RunResultTests

open System
open System.IO
open System.Text.Json
open Expecto
open Lnmn.Core.Specs
open Lnmn.Core.Training
open Lnmn.Core.Training.TrainingSpec
open Lnmn.Train
open Lnmn.Train.Configs
open Lnmn.Train.RunResult

let private config (args: string list) =
    match Lnmn.Tests.TestUtil.trainConfig args with
    | Ok c -> c
    | Error e -> failtest e

let private lines path = File.ReadAllLines path |> Array.filter ((<>) "")

/// Three weight steps of the tiny run, the validation split scored after each.
let private shortArgs (dir: string) =
    [ "--data"; TrainerTests.dataDir.Force(); "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--max-steps"; "3"
      "--eval-every"; "1"; "--alpha-warmup"; "0"; "--threads"; "1"; "--run-dir"; dir; "--seed"; "3" ]

/// The short run, trained once: its folder, the config it was asked for, the result Trainer.run returned.
let private shortRun =
    lazy
        (let dir = TrainerTests.freshDir "result"
         let asked = config (shortArgs dir)
         match Trainer.run asked with
         | Ok(Some result) -> dir, asked, result
         | Ok None -> failtest "the run trained nothing"
         | Error e -> failtest e)

/// A folder holding only `text` as its result.json.
let private folderWithResult (text: string) =
    let dir = TrainerTests.freshDir "result-only"
    Directory.CreateDirectory dir |> ignore
    File.WriteAllText(Path.Combine(dir, "result.json"), text)
    dir

let private accuracy name correct total : Evaluation.Accuracy = { Name = name; Correct = correct; Total = total }

/// The budget the comparison's tests train for: two weight steps, one thread, the tiny data.
let private compareSettings (out: string) : CompareConfig =
    { Epochs = None; MaxSteps = Some 2; Out = out; Data = Some(TrainerTests.dataDir.Force()); Seed = 3; Device = Lnmn.Core.Device.Cpu; Threads = Some 1 }

let private entry key = Comparison.entries true |> List.find (fun e -> e.Key = key)

let private compared (s: CompareConfig) (entries: Comparison.Entry list) =
    match Comparison.results s entries with
    | Ok results -> results
    | Error e -> failtest e

/// (file, last write time) of every file under a folder: what a rerun that trains nothing leaves alone.
let private writeTimes (dir: string) =
    Directory.GetFiles(dir, "*", SearchOption.AllDirectories) |> Array.sort |> Array.map (fun f -> f, File.GetLastWriteTimeUtc f)

[<Tests>]
let tests =
    testSequenced <| testList "run result" [
        test "a step's metrics with an infinite or NaN value are written as null: every line still parses" {
            let root = Path.Combine(Path.GetTempPath(), $"lnmn-metrics-{Guid.NewGuid():N}")
            Directory.CreateDirectory root |> ignore
            try
                let paths = RunFolder.paths root
                using (new RunFolder.MetricsLog(paths)) (fun log ->
                    log.Step(1, [ "loss", 0.5; "grad_norm_cell_groups", infinity; "accuracy", nan ]))
                match File.ReadAllLines paths.StepMetrics with
                | [| line |] ->
                    use doc = JsonDocument.Parse line
                    let field (name: string) = doc.RootElement.GetProperty(name)
                    Expect.equal (field "loss").ValueKind JsonValueKind.Number "a finite value as a number"
                    Expect.equal ((field "loss").GetDouble()) 0.5 "its value"
                    Expect.equal (field "grad_norm_cell_groups").ValueKind JsonValueKind.Null "infinity as null"
                    Expect.equal (field "accuracy").ValueKind JsonValueKind.Null "NaN as null"
                | lines -> failtestf "one line expected, got %d" lines.Length
            finally Directory.Delete(root, true)
        }
        test "a result reads back from its JSON as the same value: CLEVR's and VQA's scores, options, unions, the curve" {
            let spec = ModelSpec.lnmn Ablation9 (ModelDims.small 4 10 3 2 2)
            let clevr: Evaluation.Breakdown =
                { Overall = accuracy "Overall" 2 3; ByCategory = [ accuracy "count" 2 3 ]; BySubtype = [ accuracy "count" 2 3 ] }
            let vqa: VqaScore.Breakdown =
                { Overall = { Name = "Overall"; ScoreSum = 2.0 / 3.0; Total = 3 }; ByAnswerType = []; ByQuestionType = [ { Name = "how many"; ScoreSum = 0.6; Total = 1 } ] }
            let result =
                { Config =
                    { Defaults.train with
                        Data = Some "/data/clevr"; Pointer = Some PointerSharpening.lnmn; ArchitectureSplit = ValidationLeaky
                        AlphaPreset = Some(GenotypeFile "/runs/a/genotype.json"); LearningRate = Some 1e-4; Epochs = Some 3 }
                  Spec = spec
                  Scores = Categories [ { Evaluation = Evaluation.AlphaEvaluation.Soft; Breakdown = clevr }; { Evaluation = Evaluation.AlphaEvaluation.HardMax; Breakdown = clevr } ]
                  Steps = 12
                  Seconds = 1.0 / 3.0
                  Curve = [ { Step = 6; Questions = 384; Seconds = 0.1; ValidationAccuracy = 100.0 / 3.0 }; { Step = 12; Questions = 768; Seconds = 0.2; ValidationAccuracy = 50.0 } ] }
            Expect.equal (ofJson (toJson result)) (Ok result) "CLEVR's scores"
            let onVqa = { result with Scores = Vqa [ { Evaluation = Evaluation.AlphaEvaluation.NoAlpha; Breakdown = vqa } ]; Curve = [] }
            Expect.equal (ofJson (toJson onVqa)) (Ok onVqa) "VQA's scores, no curve"
            Expect.notEqual (ofJson (toJson onVqa)) (Ok result) "and the two differ"
        }

        test "a finished run's result is what its folder shows: steps, the evaluations, eval.json, spec and settings; result.json holds it" {
            let dir, asked, result = shortRun.Force()
            Expect.equal (ofJson (File.ReadAllText(Path.Combine(dir, "result.json")))) (Ok result) "result.json reads back as the result returned"
            Expect.equal result.Steps (lines (Path.Combine(dir, "metrics-steps.jsonl"))).Length "a weight step per line of metrics-steps.jsonl"
            Expect.equal result.Steps 3 "--max-steps 3"
            let evaluations =
                [ for line in lines (Path.Combine(dir, "metrics-evals.jsonl")) ->
                    use doc = JsonDocument.Parse line
                    let e = doc.RootElement
                    e.GetProperty("step").GetInt32(), e.GetProperty("questions").GetInt32(), e.GetProperty("val_accuracy").GetDouble() ]
            Expect.equal [ for p in result.Curve -> p.Step, p.Questions, p.ValidationAccuracy ] evaluations "the curve: metrics-evals.jsonl, point for point"
            Expect.equal (result.Curve |> List.map _.Step) [ 1; 2; 3 ] "--eval-every 1"
            // The last evaluation and the final one score the same network at step 3.
            Expect.equal (softAccuracy result) (List.last result.Curve).ValidationAccuracy "the final soft-α score is step 3's evaluation"
            match result.Scores with
            | Categories [ soft; hard ] ->
                Expect.equal (soft.Evaluation, hard.Evaluation) (Evaluation.AlphaEvaluation.Soft, Evaluation.AlphaEvaluation.HardMax) "soft, then hard-max α"
                Expect.equal soft.Breakdown.Overall.Total 100 "the 100 validation questions"
                Expect.equal (soft.Breakdown.ByCategory |> List.sumBy _.Total) 100 "each in one category"
                use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "eval.json")))
                let correct (name: string) = doc.RootElement.GetProperty(name).GetProperty("Overall").GetProperty("Correct").GetInt32()
                Expect.equal (soft.Breakdown.Overall.Correct, hard.Breakdown.Overall.Correct) (correct "Soft", correct "HardMax") "eval.json's counts"
            | other -> failtestf "CLEVR's scores, soft and hard-max: %A" other
            Expect.equal (Lnmn.Core.SpecJson.serialize result.Spec) (File.ReadAllText(Path.Combine(dir, "spec.json"))) "spec.json's spec"
            Expect.equal result.Config (ConfigFile.forRerun asked) "the settings asked for, as config.json records them"
            Expect.equal (RunFolder.readConfig (RunFolder.paths dir)) (Ok result.Config) "and config.json records them"
            Expect.isGreaterThan result.Seconds 0.0 "timed"
        }

        test "readResult: finished for the settings the run was asked for, wherever it is asked from; not for other settings, nor a missing or broken result.json" {
            let dir, asked, result = shortRun.Force()
            Expect.equal (RunFolder.readResult dir asked) (Ok result) "the run's own settings"
            Expect.equal (RunFolder.readResult dir { asked with RunDir = None; Resume = true }) (Ok result) "where it runs and --resume are not settings"
            match RunFolder.readResult dir { asked with Seed = 4 } with
            | Error why -> Expect.stringContains why "other settings (Seed)" "names the field that differs"
            | Ok _ -> failtest "another seed is another run"
            Expect.isError (RunFolder.readResult dir { asked with MaxSteps = Some 4 }) "a longer run is another run"
            Expect.isError (RunFolder.readResult dir { asked with Model = StackNmn }) "another model is another run"
            let text = File.ReadAllText(Path.Combine(dir, "result.json"))
            Expect.equal (RunFolder.readResult (folderWithResult text) asked) (Ok result) "the file alone is enough"
            for broken, what in
                [ text.Substring(0, text.Length / 2), "cut short"
                  text.Replace("\"Steps\"", "\"Stepz\""), "a field missing"
                  "null", "null"
                  File.ReadAllText(Path.Combine(dir, "config.json")), "another file's JSON"
                  "", "empty" ] do
                match RunFolder.readResult (folderWithResult broken) asked with
                | Error why -> Expect.stringContains why "result.json: not a run's result" $"{what}: says so"
                | Ok _ -> failtestf "%s: read as finished" what
            let empty = TrainerTests.freshDir "no-result"
            match RunFolder.readResult empty asked with
            | Error why -> Expect.stringContains why "result.json: no such file" "no file"
            | Ok _ -> failtest "an empty folder read as finished"
        }

        test "compare and learning-curve reuse a finished run only if today's defaults give its settings the model it trained" {
            let dir, asked, result = shortRun.Force()
            Expect.equal (Comparison.currentResult dir asked) (Ok result) "a run of this build's defaults"
            // As if the default answer pooling had been another when the run was trained.
            let other = if result.Spec.AnswerPooling = Some GatedProduct then AttentionSquared else GatedProduct
            let older = { result with Spec = { result.Spec with AnswerPooling = Some other } }
            match Comparison.currentResult (folderWithResult (RunResult.toJson older)) asked with
            | Error why -> Expect.stringContains why "trained before a default changed" "says why it is not reused"
            | Ok _ -> failtest "a run of another model reused"
        }

        test "--resume of a trained run without result.json scores it and writes it; with it, nothing is trained" {
            let whole, _, result = shortRun.Force()
            let dir = TrainerTests.freshDir "result-resume"
            TestUtil.copyDirectory whole dir
            File.Delete(Path.Combine(dir, "result.json"))
            match Trainer.run (config [ "--resume"; "--run-dir"; dir; "--threads"; "1" ]) with
            | Ok(Some again) ->
                Expect.equal { again with Seconds = 0.0 } { result with Seconds = 0.0 } "the same result, the settings those it started with"
                Expect.equal (lines (Path.Combine(dir, "metrics-steps.jsonl"))).Length 3 "no step trained"
            | Ok None -> failtest "said finished without result.json"
            | Error e -> failtest e
            Expect.equal (Trainer.run (config [ "--resume"; "--run-dir"; dir; "--threads"; "1" ])) (Ok None) "finished: nothing to resume"
        }

        test "compare: a model's run found finished is reused, untouched; other settings train it again; a lost result.json resumes it" {
            let out = TrainerTests.freshDir "compare"
            let entries = [ entry "stack-nmn"; entry "lnmn-9" ]
            let first = compared (compareSettings out) entries
            for e, r in first do
                let run = Path.Combine(out, "runs", e.Key)
                Expect.equal r.Steps 2 $"{e.Key}: --max-steps 2"
                Expect.equal (lines (Path.Combine(run, "metrics-steps.jsonl"))).Length 2 $"{e.Key}: two steps trained"
                Expect.equal r.Config (ConfigFile.forRerun (Comparison.config (compareSettings out) e)) $"{e.Key}: the settings compare asked for"
            let rows = first |> List.map (fun (e, r) -> Comparison.scored e r |> Result.defaultWith failtest)
            Expect.equal (rows |> List.map (List.map _.Evaluation))
                [ [ Evaluation.AlphaEvaluation.NoAlpha ]; [ Evaluation.AlphaEvaluation.Soft; Evaluation.AlphaEvaluation.HardMax ] ] "a row per evaluation of α"
            let before = writeTimes out
            Expect.equal (compared (compareSettings out) entries |> List.map snd) (List.map snd first) "the same results"
            Expect.equal (writeTimes out) before "no file written again"
            // Another seed: another run, in the same folder.
            let other = compared { compareSettings out with Seed = 4 } [ entry "stack-nmn" ]
            Expect.equal (snd other.Head).Config.Seed 4 "trained again with the new seed"
            let stackNmn = Path.Combine(out, "runs", "stack-nmn")
            Expect.isOk (RunFolder.readResult stackNmn (Comparison.config { compareSettings out with Seed = 4 } (entry "stack-nmn"))) "its folder holds the new run"
            Expect.isError (RunFolder.readResult stackNmn (Comparison.config (compareSettings out) (entry "stack-nmn"))) "and not the old one"
            // The run of these settings, its result.json lost: resumed from its checkpoint, nothing trained.
            let lnmn = Path.Combine(out, "runs", "lnmn-9")
            let steps = File.ReadAllText(Path.Combine(lnmn, "metrics-steps.jsonl"))
            File.Delete(Path.Combine(lnmn, "result.json"))
            let again = compared (compareSettings out) [ entry "lnmn-9" ]
            Expect.equal { snd again.Head with Seconds = 0.0 } { snd first.[1] with Seconds = 0.0 } "the same result"
            Expect.equal (File.ReadAllText(Path.Combine(lnmn, "metrics-steps.jsonl"))) steps "its steps kept, none trained"
        }

        test "learning-curve gives each run a config file; a rerun reuses both finished runs, untouched, and writes the same curves" {
            let out = TrainerTests.freshDir "learning"
            let args = [ "learning-curve"; "--data"; TrainerTests.dataDir.Force(); "--max-steps"; "2"; "--eval-every"; "1"; "--seed"; "3"; "--out"; out ]
            let code, firstOut, err = TrainerTests.runCli args
            Expect.equal code 0 $"learning-curve: {err}"
            let csv = File.ReadAllText(Path.Combine(out, "learning-curves.csv"))
            let settings: LearningCurve.Settings =
                { Out = out; EvalEvery = 1
                  Shared = { Defaults.train with Data = Some(TrainerTests.dataDir.Force()); MaxSteps = Some 2; Seed = 3 } }
            for model in LearningCurve.models do
                let run = Path.Combine(out, "runs", model.Key)
                let file = Path.Combine(out, "runs", $"{model.Key}.config.json")
                Expect.equal (ConfigFile.read file |> Result.map fst) (Ok(LearningCurve.config settings model)) $"{model.Key}: its settings in a --config file"
                Expect.stringContains (File.ReadAllText(Path.Combine(run, "config.json"))) $"--config {file}" $"{model.Key}: trained by lnmn-train --config FILE"
                let result = RunFolder.readResult run (LearningCurve.config settings model) |> Result.defaultWith failtest
                Expect.equal result.Steps 2 $"{model.Key}: two steps"
                // The CSV's rows are the run's evaluations, as metrics-evals.jsonl holds them.
                let evaluations =
                    [ for line in lines (Path.Combine(run, "metrics-evals.jsonl")) ->
                        use doc = JsonDocument.Parse line
                        let number (name: string) = doc.RootElement.GetProperty(name).GetDouble()
                        let questions, seconds, accuracy = number "questions", number "seconds", number "val_accuracy"
                        $"{model.Label},{questions},{seconds:F1},{accuracy:F2}" ]
                Expect.equal evaluations.Length 2 $"{model.Key}: scored after each step"
                for row in evaluations do Expect.stringContains csv row $"{model.Key}: {row} in the CSV"
            Expect.stringContains firstOut "training LNMN-11" "trained the first time"
            let before = writeTimes (Path.Combine(out, "runs"))
            let code, againOut, err = TrainerTests.runCli args
            Expect.equal code 0 $"the rerun: {err}"
            Expect.isFalse (againOut.Contains "training ") $"nothing trained: {againOut}"
            for model in LearningCurve.models do
                Expect.stringContains againOut $"{model.Label}: finished run in" $"{model.Key} reused"
            Expect.equal (writeTimes (Path.Combine(out, "runs"))) before "the runs untouched"
            Expect.equal (File.ReadAllText(Path.Combine(out, "learning-curves.csv"))) csv "the same curves"
        }
    ]
