/// VQA directories in the layouts their users have: the VQA API's `Questions/` and `Annotations/`,
/// the lower-case form (the fixture's, `VqaRunTests`), Stack-NMN's `exp_vqa/` tree; part of a VQA
/// layout gets an error naming the VQA file expected, never a CLEVR one; `validate` names the layout.
module Lnmn.Tests.VqaLayoutTests

open System.IO
open Expecto
open Lnmn.Core.Data

let private v2 = VqaLayout.V2

/// The one-line error of loading `dir` as any dataset, which names no CLEVR file.
let private loadError (dir: string) =
    let line = VqaBadInputTests.loadError dir
    Expect.isFalse (line.Contains "CLEVR") $"says nothing of CLEVR: {line}"
    line

let private smallRun = [ "--size"; "small"; "--map-dim"; "16"; "-T"; "2"; "--batch-size"; "4"; "--max-steps"; "2"; "--threads"; "2"; "--seed"; "1" ]

[<Tests>]
let tests =
    testSequenced <| testList "vqa layouts" [
        test "a VQA v2 folder with Questions/ and Annotations/ trains, evaluates and writes results, no renaming" {
            let data = VqaFixture.freshIn VqaLayout.vqaApi v2
            for folder in [ "Questions"; "Annotations"; "resnet152_c5_7x7" ] do
                Expect.isTrue (Directory.Exists(Path.Combine(data, folder))) $"the fixture has {folder}/"
            Expect.isFalse (Directory.Exists(Path.Combine(data, "questions")) && not (Directory.Exists(Path.Combine(data, "Questions")))) "not the lower-case layout"
            let run = TrainerTests.freshDir "vqa-api-run"
            let code, out, err = TrainerTests.runCli ([ "--data"; data; "--run-dir"; run ] @ smallRun)
            Expect.equal code 0 $"trains: {err}"
            Expect.stringContains out "VQA accuracy, 9 questions, per answer type" "scored on val2014 with the VQA accuracy"
            Expect.stringContains (File.ReadAllText(Path.Combine(run, "eval.md"))) "| evaluation | Overall | yes/no | number | other |" "eval.md in Table 4's layout"
            Expect.isTrue (File.Exists(Path.Combine(run, "vqa_OpenEnded_mscoco_test2015_lnmn_results.json"))) "the test split's results"
            let checkpoint = Path.Combine(run, "checkpoints", "last.ckpt")
            let results = Path.Combine(run, "again.json")
            let code, out, err = TrainerTests.runCli [ "eval"; "--checkpoint"; checkpoint; "--split"; "test"; "--results"; results; "--threads"; "2" ]
            Expect.equal code 0 $"eval --split test: {err}"
            Expect.stringContains out "6 test questions" "the recorded folder read again in its layout"
            Expect.equal (File.ReadAllText results) (File.ReadAllText(Path.Combine(run, "vqa_OpenEnded_mscoco_test2015_lnmn_results.json"))) "the same predictions"
        }

        test "each layout is found with its version, and loads" {
            for layout in VqaLayout.layouts do
                for version in [ VqaLayout.V1; v2 ] do
                    let dir = VqaFixture.freshIn layout version
                    Expect.equal (VqaLayout.detect dir |> Option.map (fun f -> f.Layout, f.Version)) (Some(layout, version)) $"{layout.Name}, {version}"
                    match AnyDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
                    | Error e -> failtest (DataError.describe e)
                    | Ok d ->
                        use _ = d
                        Expect.equal (d.Train.Examples.Length, d.Val.Examples.Length, d.Test.Value.Examples.Length) (18, 9, 6) $"{layout.Name}: every split"
                        Expect.equal d.Val.Features.Channels 2048 "features from the layout's folder"
        }

        test "only the annotations missing: one line naming the VQA annotations file" {
            let dir = VqaFixture.freshIn VqaLayout.vqaApi v2
            Directory.Delete(Path.Combine(dir, "Annotations"), true)
            let expected = Path.Combine(dir, "Annotations", "v2_mscoco_train2014_annotations.json")
            Expect.equal (loadError dir) $"{expected}: file not found (the VQA annotations of the train2014 questions)" "names the file"
            let run = TrainerTests.freshDir "vqa-no-annotations"
            let code, _, err = TrainerTests.runCli ([ "--data"; dir; "--run-dir"; run ] @ smallRun)
            Expect.equal code 1 "exit code"
            Expect.equal (err.Trim()) $"lnmn-train: {expected}: file not found (the VQA annotations of the train2014 questions)" "one line, no stack trace"
            Expect.isFalse (Directory.Exists run) "nothing written"
        }

        test "annotations and features without the training questions: the VQA questions file is named" {
            let dir = VqaFixture.freshIn VqaLayout.vqaApi v2
            Directory.Delete(Path.Combine(dir, "Questions"), true)
            let line = loadError dir
            Expect.stringStarts line (Path.Combine(dir, "Questions", "v2_OpenEnded_mscoco_train2014_questions.json") + ": file not found") "the VQA API's name"
            Expect.stringContains line "Annotations" "says what it saw"
            // v1 annotations: the v1 name; lower-case annotations: the lower-case folder.
            let dir = VqaFixture.freshIn VqaLayout.lowerCase VqaLayout.V1
            Directory.Delete(Path.Combine(dir, "questions"), true)
            Expect.stringStarts (loadError dir) (Path.Combine(dir, "questions", "OpenEnded_mscoco_train2014_questions.json") + ": file not found") "v1, lower-case"
            // Questions with a misnamed training file: the expected name.
            let dir = VqaFixture.freshIn VqaLayout.vqaApi v2
            let questions = Path.Combine(dir, "Questions", "v2_OpenEnded_mscoco_train2014_questions.json")
            File.Move(questions, Path.Combine(dir, "Questions", "train_questions.json"))
            Expect.stringStarts (loadError dir) (questions + ": file not found") "the official name"
        }

        test "a CLEVR directory is still CLEVR's" {
            match AnyDataset.detect (TrainerTests.dataDir.Force()) with
            | Ok AnyDataset.Clevr -> ()
            | other -> failtestf "expected CLEVR's layout, got %A" other
        }

        test "validate says which layout it found" {
            let dir = VqaFixture.freshIn VqaLayout.vqaApi v2
            let code, out, err = TrainerTests.runCli [ "validate"; dir ]
            Expect.equal code 0 $"valid: {err}"
            Expect.stringContains out $"{dir}: read as VQA v2, the VQA API's layout (Questions/, Annotations/, resnet152_c5_7x7/)" "the layout"
            Expect.stringContains out $"{dir}: ok" "ok"
            let code, out, _ = TrainerTests.runCli [ "validate"; TrainerTests.dataDir.Force() ]
            Expect.equal code 0 "the CLEVR data is valid"
            Expect.stringContains out "read as CLEVR's layout" "CLEVR's layout"
        }
    ]
