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
