/// Bad VQA input: each problem is one line naming the file and what is wrong, before anything is
/// trained or written.
module Lnmn.Tests.VqaBadInputTests

open System.IO
open System.Text.Json.Nodes
open Expecto
open Lnmn.Core.Data
open Lnmn.Tests.TestUtil

let private v2 = VqaLayout.V2

/// The one-line error of loading `dir` in whichever layout it has.
let loadError (dir: string) =
    match AnyDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
    | Ok d ->
        (d :> System.IDisposable).Dispose()
        failtest "the broken fixture was accepted"
    | Error e ->
        let line = DataError.describe e
        Expect.isFalse (line.Contains '\n') "one line"
        line

/// The one-line load error of a fixture after `edit` is applied to it.
let private loadErrorAfter (edit: string -> unit) =
    let dir = VqaFixture.fresh v2
    edit dir
    dir, loadError dir

/// Rewrites a JSON file through `edit` on its root object.
let private editJson (path: string) (edit: JsonObject -> unit) =
    let root = JsonNode.Parse(File.ReadAllText path).AsObject()
    edit root
    File.WriteAllText(path, root.ToJsonString())

let private valAnnotations dir = VqaLayout.annotationsFile (VqaFixture.found dir) "val2014"
let private valQuestions dir = VqaLayout.questionsFile (VqaFixture.found dir) "val2014"
let private npyFile dir = VqaLayout.npyFile (VqaFixture.found dir)

[<Tests>]
let tests =
    testList "vqa bad inputs" [
        test "a question without its annotation" {
            let dir, line = loadErrorAfter (fun dir -> editJson (valAnnotations dir) (fun root -> root["annotations"].AsArray().RemoveAt 4))
            Expect.equal line $"{valQuestions dir}: question 4: question_id 164001 has no annotation in {valAnnotations dir}" "names both files and the question"
        }
        test "a split without its annotations file" {
            let dir, line = loadErrorAfter (fun dir -> File.Delete(valAnnotations dir))
            Expect.equal line $"{valAnnotations dir}: file not found (the VQA annotations of the val2014 questions)" "names the missing file"
        }
        test "a question whose image has no features" {
            let dir, line = loadErrorAfter (fun dir -> File.Delete(npyFile dir "val2014" 164))
            let file = npyFile dir "val2014" 164
            Expect.equal line $"{valQuestions dir}: question 3: no features for image 164 (expected {file})" "names the question and the file"
        }
        test "a feature file of another shape" {
            let dir, line =
                loadErrorAfter (fun dir -> Features.writeNpy (npyFile dir "val2014" 192) 1024 7 7 (Array.zeroCreate (1024 * 49)))
            let file = npyFile dir "val2014" 192
            Expect.equal line $"{file}: .npy shape (1,7,7,1024), expected (1,7,7,2048) as COCO_val2014_000000000136.npy" "names the file and both shapes"
        }
        test "a split whose features disagree with train's" {
            let dir, line =
                loadErrorAfter (fun dir ->
                    for image in VqaFixture.valImages do
                        Features.writeNpy (npyFile dir "val2014" image) 64 7 7 (Array.zeroCreate (64 * 49)))
            Expect.stringContains line "feature maps are 64×7×7, the training split's are 2048×7×7" "both shapes"
            Expect.stringContains line (Path.Combine(dir, "resnet152_c5_7x7", "val2014")) "names the split's features"
        }
        test "malformed JSON: truncated, a missing field, a wrong type" {
            let _, line =
                loadErrorAfter (fun dir ->
                    let path = valAnnotations dir
                    let text = File.ReadAllText path
                    File.WriteAllText(path, text.Substring(0, text.Length - 100)))
            Expect.stringContains line "annotation 8: truncated JSON (the file ends inside this item)" "truncated"
            let dir, line =
                loadErrorAfter (fun dir -> editJson (valAnnotations dir) (fun root -> let annotation = root["annotations"].AsArray().[2].AsObject() in annotation.Remove("answers") |> ignore))
            Expect.equal line $"{valAnnotations dir}: annotation 2: missing field 'answers'" "missing field"
            let dir, line =
                loadErrorAfter (fun dir -> editJson (valQuestions dir) (fun root -> let question = root["questions"].AsArray().[1].AsObject() in question["image_id"] <- JsonValue.Create("136")))
            Expect.equal line $"{valQuestions dir}: question 1: field 'image_id' should be an integer" "wrong type"
        }
        test "lnmn-train refuses in one line, exits non-zero and writes no run folder" {
            let data = VqaFixture.fresh v2
            File.Delete(npyFile data "train2014" 42)
            let run = TrainerTests.freshDir "vqa-bad"
            let code, _, err = TrainerTests.runCli [ "--data"; data; "--size"; "small"; "--max-steps"; "1"; "--run-dir"; run ]
            Expect.equal code 1 "exit code"
            Expect.equal (err.Trim().Split('\n').Length) 1 $"one line: {err}"
            Expect.stringContains err "no features for image 42" "says what is wrong"
            Expect.stringContains err (npyFile data "train2014" 42) "names the file"
            Expect.isFalse (Directory.Exists run) "nothing written"
        }
    ]
