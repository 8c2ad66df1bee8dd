/// A small VQA-format directory written by the tests (and by vqa-fixture.fsx for a run by hand): a handful of COCO-named images with random
/// 7×7×2048 feature grids as Stack-NMN's .npy files, three questions an image with ten human answers
/// each (some needing the official normalisation), and a test split without annotations.
module Lnmn.Tests.VqaFixture

open System
open System.IO
open System.Text.Json
open Lnmn.Core.Data

let trainImages = [ 9; 25; 42; 72; 81; 92 ]
let valImages = [ 136; 164; 192 ]
let testImages = [ 1; 2 ]

let channels, height, width = 2048, 7, 7

/// (question type, answer type, question, the ten answers as humans wrote them) for image `k`.
let questionsOf (k: int) =
    let count = [| "Two"; "2"; "three"; "2"; "two"; "2"; "3"; "2."; "4"; "2" |]
    let yesNo = if k % 2 = 0 then [| "yes"; "yes"; "Yes"; "yes"; "no"; "yes"; "yes!"; "yes"; "yes"; "no" |] else [| "no"; "no"; "no"; "No"; "yes"; "no"; "no"; "no"; "no"; "no" |]
    let colour = [| "red"; "a red"; "red"; "dark red"; "red"; "Red"; "blue"; "red"; "the red"; "maroon" |]
    [ "is there a", "yes/no", "Is there a dog?", yesNo
      "how many", "number", "How many people are there?", count
      "what color is the", "other", "What color is the bus?", colour ]

let private write (path: string) (value: obj) =
    Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
    File.WriteAllText(path, JsonSerializer.Serialize value)

/// Random (seeded) features for one image, C×H×W.
let features (imageId: int) = let r = Random(imageId) in Array.init (channels * height * width) (fun _ -> float32 (r.NextDouble()))

/// Writes the fixture into `dir` in `layout`'s folders (VQA v2 names, or v1's with `multiple_choices`);
/// returns `dir`.
let writeIn (layout: VqaLayout.Layout) (version: VqaLayout.Version) (dir: string) =
    let found: VqaLayout.Found = { Root = dir; Version = version; Layout = layout }
    let split (s: VqaLayout.Split) (images: int list) (annotated: bool) =
        let items =
            [ for image in images do
                for k, (questionType, answerType, text, answers) in List.indexed (questionsOf image) ->
                    image * 1000 + k, image, questionType, answerType, text, answers ]
        let question (id, image, _, _, text: string, _) =
            match version with
            | VqaLayout.V1 -> box {| question_id = id; image_id = image; question = text; multiple_choices = [| "yes"; "no"; "2"; "red" |] |}
            | VqaLayout.V2 -> box {| question_id = id; image_id = image; question = text |}
        write (VqaLayout.questionsFile found s.QuestionSplit)
            {| info = {| description = "Lnmn test fixture" |}; task_type = "Open-Ended"; data_subtype = s.QuestionSplit
               questions = items |> List.map question |}
        if annotated then
            let annotation (id, image, questionType, answerType, _, answers: string[]) =
                {| question_id = id; image_id = image; question_type = questionType; answer_type = answerType
                   multiple_choice_answer = VqaAnswers.normalise answers[1]
                   answers = answers |> Array.mapi (fun i a -> {| answer = a; answer_confidence = "yes"; answer_id = i + 1 |}) |}
            write (VqaLayout.annotationsFile found s.QuestionSplit) {| info = {||}; annotations = items |> List.map annotation |}
        for image in images do
            let path = VqaLayout.npyFile found s.ImageSplit image
            Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
            Features.writeNpy path channels height width (features image)
    split VqaLayout.train trainImages true
    split VqaLayout.validation valImages true
    split VqaLayout.tests.Head testImages false
    dir

/// The fixture in the lower-case layout.
let writeTo (version: VqaLayout.Version) (dir: string) = writeIn VqaLayout.lowerCase version dir

/// A fresh fixture in `layout` in a new temporary directory.
let freshIn (layout: VqaLayout.Layout) (version: VqaLayout.Version) =
    writeIn layout version (Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"lnmn-tests-vqa-{Guid.NewGuid():N}")).FullName)

/// A fresh fixture in the lower-case layout.
let fresh (version: VqaLayout.Version) = freshIn VqaLayout.lowerCase version

/// Where the fixture in `dir` keeps its files, as `VqaLayout.detect` finds them.
let found (dir: string) = (VqaLayout.detect dir).Value
