module Lnmn.Tests.DataHumansTests

open System
open System.IO
open Expecto
open Lnmn.Core.Data
open Lnmn.Tests.TestUtil
open Lnmn.Core.Data.Clevr

let private humansFile (items: string list) =
    let path = Path.Combine(temporaryDirectory (), "CLEVR-Humans-train.json")
    File.WriteAllText(path, "{\"questions\": [" + String.Join(",\n", items) + "]}")
    path

let private humanQuestion (text: string) (answer: string) (image: int) =
    $"{{\"question\": \"{text}\", \"answer\": \"{answer}\", \"image_index\": {image}, \"image_filename\": \"CLEVR_train_{image:D6}.png\"}}"

let private humans =
    [ humanQuestion "Is there a cube?" "yes" 4
      humanQuestion "How many spheres are hiding behind the cube?" "3" 0
      humanQuestion "What shape is the shiniest thing?" "cube" 12 ]

/// A CLEVR-Humans folder as released, made from the tests' small CLEVR data (`TrainerTests.dataDir`):
/// `CLEVR-Humans-{train,val,test}.json` in `<parent>/CLEVR-Humans/` (as clevr-iep keeps them), CLEVR's
/// features in `<parent>/features/` (or, with `beside`, next to the JSON files). Train asks about
/// CLEVR train images with new words; val about CLEVR *train* images too (a Humans split whose
/// images come from a CLEVR split of another name); test about CLEVR val images and one train image.
/// Returns (the Humans folder, the CLEVR data).
let humansFolder (beside: bool) =
    let clevr = TrainerTests.dataDir.Force()
    let parent = temporaryDirectory ()
    let dir = if beside then parent else Path.Combine(parent, "CLEVR-Humans")
    copyDirectory (Path.Combine(clevr, "features")) (Path.Combine(parent, "features"))
    Directory.CreateDirectory dir |> ignore
    let read split = ClevrJson.readQuestions (DatasetLayout.questionsFile clevr split) |> Array.ofSeq
    let train, value = read "train", read "val"
    let item (prefix: string) (split: string) (q: Question) =
        {| question = prefix + q.Text; answer = q.Answer.Value; image_index = q.ImageIndex; image_filename = $"CLEVR_{split}_{q.ImageIndex:D6}.png" |}
    let write split items = File.WriteAllText(HumansLayout.questionsFile dir split, System.Text.Json.JsonSerializer.Serialize {| questions = items |})
    write "train" [ for q in train[0..39] -> item "zorblax quuxly " "train" q ]
    write "val" [ for q in train[40..59] -> item "" "train" q ]
    write "test" ([ for q in value[0..19] -> item "" "val" q ] @ [ item "" "train" train[60] ])
    dir, clevr

let humansTests =
    testList "CLEVR-Humans and the test split" [
        test "Humans: fields read, no program, answers mapped to CLEVR's answer ids" {
            let questions = ClevrJson.readHumans (humansFile humans) |> Array.ofSeq
            Expect.equal (questions |> Array.map (fun q -> q.Index, q.Text, q.Answer, q.ImageIndex, q.ImageFilename))
                [| 0, "Is there a cube?", Some "yes", 4, "CLEVR_train_000004.png"
                   1, "How many spheres are hiding behind the cube?", Some "3", 0, "CLEVR_train_000000.png"
                   2, "What shape is the shiniest thing?", Some "cube", 12, "CLEVR_train_000012.png" |] "fields"
            Expect.isTrue (questions |> Array.forall (fun q -> q.Program.IsNone && q.FamilyIndex.IsNone)) "no program, no family"
            let v = Vocabulary.build answers [ "Is there a cube?" ]
            // yes, no, 0..10, 8 colours, then cube: 2 + 11 + 8 = 21.
            Expect.equal (questions |> Array.map (fun q -> Vocabulary.answerId v q.Answer.Value)) [| Some 0; Some 5; Some 21 |] "answer ids"
        }
        test "Humans words unknown to CLEVR's vocabulary map to UNK; extend gives them ids after the old ones" {
            let clevr = Vocabulary.build answers [ "How many spheres are behind the cube?" ]
            // <pad> <unk> how many spheres are behind the cube ?
            Expect.equal (Vocabulary.encode clevr "How many spheres are hiding behind the cube?") [| 2; 3; 4; 5; Vocabulary.unknownId; 6; 7; 8; 9 |] "hiding is unknown"
            let questions = ClevrJson.readHumans (humansFile humans) |> Array.ofSeq
            let extended = Vocabulary.extend clevr (questions |> Seq.map (fun q -> q.Text))
            Expect.equal extended.Tokens[.. clevr.Tokens.Length - 1] clevr.Tokens "old ids kept"
            Expect.equal extended.Tokens[clevr.Tokens.Length ..] [| "is"; "there"; "a"; "hiding"; "what"; "shape"; "shiniest"; "thing" |] "new words after, in order of appearance"
            Expect.equal (Vocabulary.encode extended "How many spheres are hiding behind the cube?") [| 2; 3; 4; 5; 13; 6; 7; 8; 9 |] "hiding has id 13"
            Expect.equal extended.Answers clevr.Answers "same answers"
        }
        test "Humans: a missing field is one line naming the file and the question" {
            let line items =
                let path = humansFile items
                oneLineError path (DataError.catch path (fun () -> ClevrJson.readHumans path |> Array.ofSeq))
            Expect.stringContains (line [ humans[0]; humans[1].Replace("\"question\": \"How many spheres are hiding behind the cube?\", ", "") ]) "question 1: missing field 'question'" "question"
            Expect.stringContains (line [ humans[0]; humans[1]; humans[2].Replace("\"answer\": \"cube\", ", "") ]) "question 2: missing field 'answer'" "answer"
        }
        test "Humans as released: each question's image found through image_filename, whatever the split's name" {
            let dir, clevr = humansFolder false
            let found = match AnyDataset.detect dir with Ok(AnyDataset.Humans h) -> h | other -> failtestf "not read as CLEVR-Humans: %A" other
            Expect.equal found.Features (Path.GetDirectoryName dir) "CLEVR's features from the folder above"
            match AnyDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
            | Error e -> failtest (DataError.describe e)
            | Ok d ->
                use _ = d
                Expect.equal (d.Train.Examples.Length, d.Val.Examples.Length, d.Test.Value.Examples.Length) (40, 20, 21) "every split"
                Expect.containsAll d.Vocabulary.Tokens [| "zorblax"; "quuxly" |] "the new words"
                let clevrTrain = ClevrJson.readQuestions (DatasetLayout.questionsFile clevr "train") |> Array.ofSeq
                let clevrVal = ClevrJson.readQuestions (DatasetLayout.questionsFile clevr "val") |> Array.ofSeq
                let features split = match Dataset.openFeatures clevr split with Ok f -> f | Error e -> failtest (DataError.describe e)
                use trainFeatures = features "train"
                use valFeatures = features "val"
                let expectImage (split: Batching.Split) k (source: Features.FeatureSource) (image: int) message =
                    Expect.equal (split.Features.Read [| split.Examples[k].ImageIndex |]) (source.Read [| image |]) message
                // Humans val asks about CLEVR train images.
                for k in [ 0; 7; 19 ] do
                    expectImage d.Val k trainFeatures clevrTrain[40 + k].ImageIndex $"val question {k}: CLEVR train image {clevrTrain[40 + k].ImageIndex}"
                // Humans test: CLEVR val images, and one train image in the same split.
                for k in [ 0; 11 ] do
                    expectImage d.Test.Value k valFeatures clevrVal[k].ImageIndex $"test question {k}: CLEVR val image {clevrVal[k].ImageIndex}"
                expectImage d.Test.Value 20 trainFeatures clevrTrain[60].ImageIndex "test question 20: a CLEVR train image"
                // A batch mixing both CLEVR splits comes back in the order asked.
                let mixed = [| d.Test.Value.Examples[20].ImageIndex; d.Test.Value.Examples[0].ImageIndex |]
                Expect.equal (d.Test.Value.Features.Read mixed) (Array.append (trainFeatures.Read [| clevrTrain[60].ImageIndex |]) (valFeatures.Read [| clevrVal[0].ImageIndex |])) "mixed batch"
                Expect.isTrue (d.Test.Value.Examples |> Array.forall (fun e -> e.Answer >= 0)) "the test split's answers kept"
            // The JSON files beside the features: the same folder.
            let dir, _ = humansFolder true
            match AnyDataset.detect dir with
            | Ok(AnyDataset.Humans h) -> Expect.equal h.Features dir "features beside the JSON files"
            | other -> failtestf "not read as CLEVR-Humans: %A" other
        }

        test "Humans as released fine-tunes from a CLEVR checkpoint and evaluates, no renaming" {
            let pretrained = TrainerTests.freshDir "humans-pretrain"
            TrainerTests.train pretrained [ "--max-steps"; "1" ] |> ignore
            let dir, _ = humansFolder false
            let tuned = TrainerTests.freshDir "humans-tuned"
            let checkpoint = Path.Combine(pretrained, "checkpoints", "last.ckpt")
            let code, out, err =
                TrainerTests.runCli [ "--finetune-from"; checkpoint; "--data"; dir; "--max-steps"; "1"; "--threads"; "2"; "--run-dir"; tuned ]
            Expect.equal code 0 $"fine-tunes: {err}"
            Expect.stringContains out "of them new" "new words counted"
            Expect.isTrue (File.Exists(Path.Combine(tuned, "eval.md"))) "evaluated on Humans val"
            let words dir = (Vocabulary.load (Path.Combine(dir, "vocabulary.json")) |> Result.defaultWith (fun e -> failtest (DataError.describe e))).Tokens
            let before, after = words pretrained, words tuned
            Expect.sequenceEqual after[.. before.Length - 1] before "old words keep their ids"
            Expect.containsAll after[before.Length ..] [| "zorblax"; "quuxly" |] "new words after them"
            // eval reads the run's recorded Humans folder again; the test split has answers and is scored.
            let code, out, err = TrainerTests.runCli [ "eval"; "--checkpoint"; Path.Combine(tuned, "checkpoints", "last.ckpt"); "--split"; "test"; "--threads"; "2" ]
            Expect.equal code 0 $"eval --split test: {err}"
            Expect.stringContains out "(21 questions)" "the Humans test split"
            Expect.stringContains out "Overall" "scored"
            let code, out, err = TrainerTests.runCli [ "validate"; dir ]
            Expect.equal code 0 $"validate: {err}"
            Expect.stringContains out "read as CLEVR-Humans as released" "validate names the layout"
        }

        test "Humans: a bad image_filename, missing features, CLEVR's questions beside: one line each" {
            let loadLine dir =
                match AnyDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
                | Ok d ->
                    (d :> IDisposable).Dispose()
                    failtest "accepted"
                | Error e ->
                    let line = DataError.describe e
                    Expect.isFalse (line.Contains '\n') "one line"
                    line
            let edit dir split (from: string) (replacement: string) =
                let path = HumansLayout.questionsFile dir split
                let text = File.ReadAllText path
                let at = text.IndexOf from
                File.WriteAllText(path, text.Substring(0, at) + replacement + text.Substring(at + from.Length))
                path
            let dir, _ = humansFolder true
            let path = edit dir "val" "CLEVR_train_" "CLEVR_train_9"
            Expect.stringStarts (loadLine dir) $"{path}: question 0: image_filename CLEVR_train_9" "names the file and question"
            Expect.stringContains (loadLine dir) ", image_index says" "both numbers"
            let dir, _ = humansFolder true
            let path = edit dir "val" "CLEVR_train_" "train_"
            Expect.stringContains (loadLine dir) $"{path}: question 0: image_filename 'train_" "not a CLEVR image name"
            let dir, _ = humansFolder true
            let path = edit dir "test" "CLEVR_val_" "CLEVR_testing_"
            let line = loadLine dir
            Expect.stringStarts line $"{path}: question 0: CLEVR_testing_" "names the question"
            Expect.stringContains line "is a CLEVR testing image, and CLEVR's testing features are not found" "the split its file names"
            let dir, _ = humansFolder false
            Directory.Delete(Path.Combine(Path.GetDirectoryName dir, "features"), true)
            let line, trainFile, expected = loadLine dir, HumansLayout.questionsFile dir "train", Path.Combine(dir, "features", "train_features.h5")
            Expect.stringStarts line $"{trainFile}: question 0: CLEVR_train_" "names the Humans question"
            Expect.stringContains line $"CLEVR's train features are not found (expected {expected}" "and the features expected"
            let dir, clevr = humansFolder true
            copyDirectory (Path.Combine(clevr, "questions")) (Path.Combine(dir, "questions"))
            let trainFile = HumansLayout.questionsFile dir "train"
            Expect.stringStarts (loadLine dir) $"{trainFile}: CLEVR-Humans' questions beside CLEVR's own" "one dataset a folder"
        }

        test "the test split (no answer, no program) loads; its answers are -1" {
            let dir = temporaryDirectory ()
            copyDirectory (DataGenerationTests.generated.Force()) dir
            File.Copy((DatasetLayout.featureCandidates dir "val").Head, (DatasetLayout.featureCandidates dir "test").Head)
            let testQuestions =
                ClevrJson.readQuestions (DatasetLayout.questionsFile dir "val")
                |> Seq.truncate 20
                |> Seq.map (fun q -> { q with Answer = None; Program = None; FamilyIndex = None; Split = "test" })
                |> Array.ofSeq
            ClevrJson.writeQuestions (DatasetLayout.questionsFile dir "test") "test" testQuestions
            Expect.isFalse (File.ReadAllText(DatasetLayout.questionsFile dir "test").Contains "\"answer\"") "no answer field written"
            match Dataset.loadDataset dir with
            | Error e -> failtest (DataError.describe e)
            | Ok d ->
                use _ = d
                let test = d.Test.Value
                Expect.equal test.Examples.Length 20 "all test questions"
                Expect.isTrue (test.Examples |> Array.forall (fun e -> e.Answer = -1 && e.Category.IsNone)) "no answers, no categories"
                Expect.equal (test.Examples |> Array.map (fun e -> e.ImageIndex)) (testQuestions |> Array.map (fun q -> q.ImageIndex)) "image indices"
        }
    ]
