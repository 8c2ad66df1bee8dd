/// VQA end to end on the test-built fixture: `--data DIR` trains a few steps with the sigmoid loss,
/// the run folder holds the tables per answer and question type and the test split's results file,
/// and `lnmn-train eval` scores the checkpoint and writes the same results.
module Lnmn.Tests.VqaRunTests

open System.IO
open System.Text.Json
open Expecto
open Argu
open Lnmn.Core.Data
open Lnmn.Train

/// Trains in-process on a fresh fixture: small model, batches of 4, three weight steps, α from step 1.
let private trainOnFixture (version: VqaLayout.Version) =
    let data = VqaFixture.fresh version
    let run = TrainerTests.freshDir "vqa-run"
    let args =
        [ "--data"; data; "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--batch-size"; "4"; "--max-steps"; "3"
          "--alpha-warmup"; "0"; "--threads"; "2"; "--run-dir"; run; "--seed"; "1" ]
    let parsed = ArgumentParser.Create<Options.TrainArgs>(programName = "lnmn-train").ParseCommandLine(Array.ofList args)
    match Options.toConfig parsed |> Result.bind Trainer.run with
    | Ok summary -> data, run, summary
    | Error e -> failtestf "training failed: %s" e

let private resultsOf (path: string) =
    use doc = JsonDocument.Parse(File.ReadAllText path)
    [ for e in doc.RootElement.EnumerateArray() -> e.GetProperty("question_id").GetInt32(), e.GetProperty("answer").GetString() ]

let private run = lazy (trainOnFixture VqaLayout.V2)

[<Tests>]
let tests =
    testSequenced <| testList "vqa run" [
        test "training a few steps on the fixture uses the sigmoid loss on soft targets" {
            let _, dir, summary = run.Force()
            Expect.equal summary.StepsRun 3 "three weight steps"
            let accuracy = summary.ValidationAccuracy.Value
            Expect.isTrue (accuracy >= 0.0 && accuracy <= 100.0) $"VQA accuracy {accuracy} is a percentage"
            Expect.stringContains (File.ReadAllText(Path.Combine(dir, "config.json"))) "\"AnswerLoss\": \"SigmoidSoftTargets\"" "the loss in the training spec"
            let steps = File.ReadAllLines(Path.Combine(dir, "metrics-steps.jsonl")) |> Array.filter ((<>) "")
            Expect.equal steps.Length 3 "a metrics line per step"
            for line in steps do
                use doc = JsonDocument.Parse line
                let loss = doc.RootElement.GetProperty("cross_entropy").GetDouble()
                // Summed over 4 answers at init: about 4 · log 2; far from softmax CE over 4 answers (log 4).
                Expect.isTrue (loss > 1.5 && System.Double.IsFinite loss) $"sigmoid CE summed over the answers ({loss})"
                Expect.isTrue (doc.RootElement.TryGetProperty("alpha_loss") |> fst) "an α step ran on soft targets too"
        }

        test "eval.md and eval.json hold the tables per answer type and question type" {
            let _, dir, summary = run.Force()
            let markdown = File.ReadAllText(Path.Combine(dir, "eval.md"))
            for expected in [ "VQA accuracy, 9 questions, per answer type"; "| evaluation | Overall | yes/no | number | other |"
                              "| soft α |"; "| hard-max α |"; "Per question type"; "| how many |"; "| is there a |"; "| what color is the |" ] do
                Expect.stringContains markdown expected "eval.md"
            use doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "eval.json")))
            let soft = doc.RootElement.GetProperty("Soft").GetProperty("Overall")
            Expect.equal (soft.GetProperty("Total").GetInt32()) 9 "9 validation questions"
            Expect.floatClose Accuracy.high (100.0 * soft.GetProperty("ScoreSum").GetDouble() / 9.0) summary.ValidationAccuracy.Value "eval.json agrees with the summary"
        }

        test "the test split's predictions are written in the official results format" {
            let data, dir, _ = run.Force()
            let path = Path.Combine(dir, "vqa_OpenEnded_mscoco_test2015_lnmn_results.json")
            let results = resultsOf path
            Expect.equal (results |> List.map fst) [ 1000; 1001; 1002; 2000; 2001; 2002 ] "every test question, in file order"
            for _, answer in results do
                Expect.contains [ "2"; "red"; "no"; "yes" ] answer "an answer of the vocabulary"
            // `eval` on the checkpoint writes the same predictions.
            let file = Path.Combine(dir, "again.json")
            let code, out, err = TrainerTests.runCli [ "eval"; "--checkpoint"; Path.Combine(dir, "checkpoints", "last.ckpt"); "--split"; "test"; "--results"; file; "--threads"; "2" ]
            Expect.equal code 0 $"eval --split test: {err}"
            Expect.stringContains out "6 test questions, no annotations to score" "says why there is no table"
            Expect.equal (resultsOf file) results "the same predictions"
            let code, out, err = TrainerTests.runCli [ "eval"; "--checkpoint"; Path.Combine(dir, "checkpoints", "last.ckpt"); "--data"; data; "--threads"; "2" ]
            Expect.equal code 0 $"eval on val: {err}"
            Expect.stringContains out "| evaluation | Overall | yes/no | number | other |" "eval prints Table 4's layout"
        }

        test "report reads a VQA run back with Table 4's and Tables 9/10's layouts" {
            let _, dir, _ = run.Force()
            let out = Path.Combine(dir, "report")
            let code, _, err = TrainerTests.runCli [ "report"; dir; "--out"; out; "--ig-steps"; "1"; "--pictures"; "1"; "--threads"; "2" ]
            Expect.equal code 0 $"report: {err}"
            let markdown = File.ReadAllText(Path.Combine(out, "report.md"))
            Expect.stringContains markdown "## VQA accuracy per answer type (paper Table 4)" "answer types"
            Expect.stringContains markdown "## VQA accuracy per question type (paper Tables 9 and 10)" "question types"
            Expect.stringContains markdown "Integrated gradients of α" "IG on the questions whose answer is in the vocabulary"
        }

        test "VQA v1 names (with multiple_choices) train too" {
            let _, dir, summary = trainOnFixture VqaLayout.V1
            Expect.equal summary.StepsRun 3 "three weight steps"
            Expect.isTrue (File.Exists(Path.Combine(dir, "vqa_OpenEnded_mscoco_test2015_lnmn_results.json"))) "results file"
        }
    ]
