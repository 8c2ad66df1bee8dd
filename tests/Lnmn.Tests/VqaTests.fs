/// VQA: answer normalisation, vocabulary, soft targets and the official accuracy against hand-computed
/// values; the readers on the test-built fixture.
module Lnmn.Tests.VqaTests

open Expecto
open Lnmn.Core.Data
open Lnmn.Core.Training

/// Ten human answers: `n` of them id 0, the rest id 1.
let private humans n = Array.init 10 (fun i -> if i < n then 0 else 1)

[<Tests>]
let tests =
    testList "vqa" [
        test "normalisation follows the official rules" {
            let cases =
                [ "Two.", "2"                         // number word, trailing period
                  "a Red bus", "red bus"              // lower case, article
                  "the  ten", "10"                    // article, number word, spaces
                  "dont know", "don't know"           // contraction restored
                  "couldnt've", "couldn't've"         // both apostrophes
                  "couldn'tve", "couldn't've"         // one of two
                  "yes!", "yes"                       // mark next to nothing: replaced by a space
                  "black/white", "black white"        // mark inside a word: a space
                  "black / white", "black white"      // mark next to a space: dropped
                  "1,000", "1000"                     // a comma between digits: every mark dropped
                  "3.5", "3.5"                        // a period before a digit stays
                  "i'm", "i'm"
                  "im", "im"                          // the official key is "Im": never matches
                  "none", "0"
                  "  yes\n", "yes" ]
            for raw, expected in cases do
                Expect.equal (VqaAnswers.normalise raw) expected $"normalise \"{raw}\""
        }

        test "the official accuracy: 2 of 10 humans score 0.6, not 2/3" {
            let close (actual: float) expected message = Expect.floatClose Accuracy.veryHigh actual expected message
            close (VqaScore.accuracy (humans 0) 0) 0.0 "0 of 10"
            close (VqaScore.accuracy (humans 1) 0) 0.3 "1 of 10: 9 subsets of 1/3"
            close (VqaScore.accuracy (humans 2) 0) 0.6 "2 of 10: (8·2/3 + 2·1/3)/10"
            close (VqaScore.accuracy (humans 3) 0) 0.9 "3 of 10: (7·1 + 3·2/3)/10"
            close (VqaScore.accuracy (humans 4) 0) 1.0 "4 of 10"
            close (VqaScore.accuracy (humans 10) 0) 1.0 "10 of 10"
            close (VqaScore.accuracy (Array.create 10 -1) -1) 0.0 "answers outside the vocabulary never match"
        }

        test "soft targets are min(1, humans / 3) per answer in the vocabulary" {
            let targets = VqaAnswers.softTargets [| 2; 0; 2; 2; 2; 0; -1; -1; 5; 2 |]
            Expect.equal targets [ 0, 2.0f / 3.0f; 2, 1.0f; 5, 1.0f / 3.0f ] "ids 0 (2 humans), 2 (5 humans), 5 (1 human); none for −1"
        }

        test "the vocabulary keeps the most frequent answers, ties in ordinal order" {
            let answers = [ "yes"; "no"; "2"; "yes"; "red"; "no"; "yes"; "2"; "blue" ]
            Expect.equal (VqaAnswers.vocabulary 3 answers) [| "yes"; "2"; "no" |] "3 most frequent"
            Expect.equal (VqaAnswers.vocabulary 10 answers) [| "yes"; "2"; "no"; "blue"; "red" |] "all of them"
        }

        test "breakdown per answer type and question type sums the scores" {
            let scored =
                [ { VqaScore.Score = 1.0; VqaScore.AnswerType = "yes/no"; VqaScore.QuestionType = "is the" }
                  { VqaScore.Score = 0.6; VqaScore.AnswerType = "yes/no"; VqaScore.QuestionType = "is the" }
                  { VqaScore.Score = 0.3; VqaScore.AnswerType = "number"; VqaScore.QuestionType = "how many" }
                  { VqaScore.Score = 0.0; VqaScore.AnswerType = "other"; VqaScore.QuestionType = "what color is the" } ]
            let b = VqaScore.breakdown scored
            Expect.floatClose Accuracy.veryHigh (VqaScore.Group.percent b.Overall) 47.5 "overall (1 + 0.6 + 0.3 + 0)/4"
            Expect.equal (b.ByAnswerType |> List.map (fun g -> g.Name, VqaScore.Group.percent g |> round)) [ "yes/no", 80.0; "number", 30.0; "other", 0.0 ] "answer types in Table 4's order"
            Expect.equal (b.ByQuestionType |> List.map (fun g -> g.Name, g.Total)) [ "how many", 1; "is the", 2; "what color is the", 1 ] "question types, sorted"
            let markdown = Lnmn.Analysis.ScoreTables.vqaMarkdown [ "soft α", b ]
            Expect.stringContains markdown "| soft α | 47.50 | 80.00 | 30.00 | 0.00 |" "Table 4 row"
            Expect.stringContains markdown "| is the | 80.00 | 2 |" "Tables 9/10 row"
        }

        test "the readers stream the fixture's questions and annotations, v1 and v2" {
            for version in [ VqaLayout.V1; VqaLayout.V2 ] do
                let dir = VqaFixture.fresh version
                Expect.equal ((VqaLayout.detect dir) |> Option.map (fun f -> f.Version, f.Layout)) (Some(version, VqaLayout.lowerCase)) "layout detected"
                let questions = VqaJson.readQuestions (VqaLayout.questionsFile (VqaFixture.found dir) "train2014") |> Array.ofSeq
                Expect.equal questions.Length 18 "6 images × 3 questions"
                Expect.equal (questions[0].QuestionId, questions[0].ImageId, questions[0].Text) (9000, 9, "Is there a dog?") "first question"
                let annotations = VqaJson.readAnnotations (VqaLayout.annotationsFile (VqaFixture.found dir) "val2014") |> Array.ofSeq
                Expect.equal annotations.Length 9 "3 images × 3 questions"
                Expect.equal annotations[1].Answers.Length 10 "ten answers"
                Expect.equal (annotations[1].QuestionType, annotations[1].AnswerType) ("how many", "number") "types"
        }

        test "the fixture loads: vocabulary, labels, 2048×7×7 features read lazily by COCO image id" {
            let dir = VqaFixture.fresh VqaLayout.V2
            match VqaDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
            | Error e -> failtest (DataError.describe e)
            | Ok dataset ->
                use _ = dataset
                Expect.equal dataset.Vocabulary.Answers [| "2"; "red"; "no"; "yes" |] "the training multiple-choice answers, by frequency"
                Expect.equal (dataset.Train.Examples.Length, dataset.Val.Examples.Length) (18, 9) "questions"
                Expect.equal (dataset.Test |> Option.map (fun t -> t.Name, t.Examples.Length)) (Some("test2015", 6)) "test split without annotations"
                let f = dataset.Val.Features
                Expect.equal (f.Count, f.Channels, f.Height, f.Width) (3, 2048, 7, 7) "one row per image"
                let count = dataset.Val.Examples[4]
                let v = count.Vqa.Value
                Expect.equal (v.QuestionId, v.AnswerType) (164001, "number") "question 4 is image 164's count question"
                Expect.equal (v.HumanAnswers |> Array.filter ((=) 0) |> Array.length) 7 "seven humans said 2 (Two, two, 2.)"
                Expect.equal (v.HumanAnswers |> Array.filter ((=) -1) |> Array.length) 3 "3 and 4 are outside the vocabulary"
                Expect.equal count.ImageIndex 1 "image 164 is the second of the sorted image ids"
                let expected = VqaFixture.features 164
                let read = f.Read [| 1 |]
                Expect.equal read.[0 .. 99] expected.[0 .. 99] "the .npy's (1, H, W, C) read back as C×H×W"
                Expect.equal read expected "the whole map"
                let yesNo = dataset.Val.Examples[0].Vqa.Value
                Expect.floatClose Accuracy.veryHigh (VqaScore.accuracy yesNo.HumanAnswers 2) 0.6 "answering no where 2 of 10 said no: 0.6"
        }

        test "one HDF5 file per split, rows named by `image_ids`, reads the same maps as the .npy files" {
            let dir = VqaFixture.fresh VqaLayout.V2
            // Rows in another order than the sorted image ids, to check the lookup.
            let ids = [| 192L; 136L; 164L |]
            Features.writeHdf5WithIds (VqaLayout.hdf5File (VqaFixture.found dir) "val2014") ids VqaFixture.channels VqaFixture.height VqaFixture.width 2 (fun start count ->
                Array.concat [ for i in start .. start + count - 1 -> VqaFixture.features (int ids[i]) ])
            System.IO.Directory.Delete(System.IO.Path.Combine(VqaLayout.featureRoot (VqaFixture.found dir), "val2014"), true)
            match VqaDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
            | Error e -> failtest (DataError.describe e)
            | Ok dataset ->
                use _ = dataset
                let f = dataset.Val.Features
                Expect.equal (f.Count, f.Channels, f.Height, f.Width) (3, 2048, 7, 7) "three rows"
                Expect.equal (f.Read [| 1 |]) (VqaFixture.features 164) "image 164 is file row 2"
                Expect.equal (f.Read [| 0; 2 |]) (Array.append (VqaFixture.features 136) (VqaFixture.features 192)) "rows picked in order"
            Features.writeHdf5WithIds (VqaLayout.hdf5File (VqaFixture.found dir) "val2014") [| 192L; 136L |] VqaFixture.channels VqaFixture.height VqaFixture.width 2 (fun start count ->
                Array.concat [ for i in start .. start + count - 1 -> VqaFixture.features (int ids[i]) ])
            match VqaDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
            | Ok _ -> failtest "an image missing from image_ids was accepted"
            | Error e ->
                let file = VqaLayout.hdf5File (VqaFixture.found dir) "val2014"
                Expect.equal (DataError.describe e) $"{file}: no features for image 164 (not in its 'image_ids')" "one line naming the file"
        }

        test "lnmn-train validate checks a VQA directory" {
            let dir = VqaFixture.fresh VqaLayout.V1
            Expect.equal (Validate.directory dir) [] "the fixture is fine"
            System.IO.File.Delete(VqaLayout.npyFile (VqaFixture.found dir) "val2014" 192)
            match Validate.directory dir with
            | [ line ] -> Expect.stringContains line "no features for image 192" "the problem"
            | problems -> failtestf "expected one problem, got %A" problems
        }
    ]
