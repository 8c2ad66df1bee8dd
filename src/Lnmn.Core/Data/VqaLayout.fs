/// Where a VQA dataset directory keeps its files: the official file names under `questions/` and
/// `annotations/`, and Stack-NMN's feature layout under `resnet152_c5_7x7/`.
///
///   questions/[v2_]OpenEnded_mscoco_{train2014,val2014,test2015|test-dev2015}_questions.json
///   annotations/[v2_]mscoco_{train2014,val2014}_annotations.json
///   resnet152_c5_7x7/{train2014,val2014,test2015}/COCO_<images>_<12-digit image id>.npy   (1, 7, 7, 2048)
///   or resnet152_c5_7x7/{train2014,val2014,test2015}.h5   `features` (N, C, H, W), `image_ids` (N)
module Lnmn.Core.Data.VqaLayout

open System.IO

type Version =
    | V1
    | V2

module Version =
    let name v = match v with V1 -> "VQA v1" | V2 -> "VQA v2"
    let private prefix v = match v with V1 -> "" | V2 -> "v2_"
    let questionsFile v (dir: string) (split: string) =
        Path.Combine(dir, "questions", $"{prefix v}OpenEnded_mscoco_{split}_questions.json")
    let annotationsFile v (dir: string) (split: string) =
        Path.Combine(dir, "annotations", $"{prefix v}mscoco_{split}_annotations.json")

/// One split as the official files name it: its questions' split and its images' split.
type Split =
    { QuestionSplit: string
      ImageSplit: string }

let train = { QuestionSplit = "train2014"; ImageSplit = "train2014" }
let validation = { QuestionSplit = "val2014"; ImageSplit = "val2014" }

/// The test splits, in the order they are looked for; both ask about the test2015 images.
let tests = [ { QuestionSplit = "test2015"; ImageSplit = "test2015" }; { QuestionSplit = "test-dev2015"; ImageSplit = "test2015" } ]

/// VQA v2 when its training questions are there, else v1 when its are, else None (not VQA).
let detect (dir: string) : Version option =
    [ V2; V1 ] |> List.tryFind (fun v -> File.Exists(Version.questionsFile v dir train.QuestionSplit))

let featureRoot (dir: string) = Path.Combine(dir, "resnet152_c5_7x7")

/// Stack-NMN's file for one image, as its extraction script names it.
let npyFile (dir: string) (imageSplit: string) (imageId: int) =
    Path.Combine(featureRoot dir, imageSplit, $"COCO_{imageSplit}_{imageId:D12}.npy")

let hdf5File (dir: string) (imageSplit: string) = Path.Combine(featureRoot dir, $"{imageSplit}.h5")

/// The official name of a results file for the evaluation server.
let resultsFileName (questionSplit: string) = $"vqa_OpenEnded_mscoco_{questionSplit}_lnmn_results.json"
