/// Where a VQA dataset directory keeps its files. The file names are the official ones; the folders
/// are one of three layouts (`layouts`), all with Stack-NMN's features:
///
///   the VQA API's:   Questions/, Annotations/, resnet152_c5_7x7/
///   lower-case:      questions/, annotations/, resnet152_c5_7x7/
///   Stack-NMN's exp_vqa/ folder: vqa_dataset/Questions/, vqa_dataset/Annotations/, data/resnet152_c5_7x7/
///
///   <questions>/[v2_]OpenEnded_mscoco_{train2014,val2014,test2015|test-dev2015}_questions.json
///   <annotations>/[v2_]mscoco_{train2014,val2014}_annotations.json
///   <features>/{train2014,val2014,test2015}/COCO_<images>_<12-digit image id>.npy   (1, 7, 7, 2048)
///   or <features>/{train2014,val2014,test2015}.h5   `features` (N, C, H, W), `image_ids` (N)
module Lnmn.Core.Data.VqaLayout

open System.IO

type Version =
    | V1
    | V2

module Version =
    let name v = match v with V1 -> "VQA v1" | V2 -> "VQA v2"
    let prefix v = match v with V1 -> "" | V2 -> "v2_"

/// The folders of one layout, relative to the dataset directory.
type Layout =
    { /// Says which layout it is, for `validate`.
      Name: string
      Questions: string
      Annotations: string
      Features: string }

let vqaApi = { Name = "the VQA API's layout"; Questions = "Questions"; Annotations = "Annotations"; Features = "resnet152_c5_7x7" }
let lowerCase = { Name = "the lower-case layout"; Questions = "questions"; Annotations = "annotations"; Features = "resnet152_c5_7x7" }
let stackNmn =
    { Name = "Stack-NMN's exp_vqa layout"
      Questions = Path.Combine("vqa_dataset", "Questions")
      Annotations = Path.Combine("vqa_dataset", "Annotations")
      Features = Path.Combine("data", "resnet152_c5_7x7") }

/// The layouts looked for, in this order.
let layouts = [ vqaApi; lowerCase; stackNmn ]

/// A VQA directory as found: where it is, its version and its layout.
type Found =
    { Root: string
      Version: Version
      Layout: Layout }

let questionsFile (d: Found) (split: string) =
    Path.Combine(d.Root, d.Layout.Questions, $"{Version.prefix d.Version}OpenEnded_mscoco_{split}_questions.json")

let annotationsFile (d: Found) (split: string) =
    Path.Combine(d.Root, d.Layout.Annotations, $"{Version.prefix d.Version}mscoco_{split}_annotations.json")

/// "VQA v2, the VQA API's layout (Questions/, Annotations/, resnet152_c5_7x7/)".
let describe (d: Found) =
    let sep = string Path.DirectorySeparatorChar
    $"{Version.name d.Version}, {d.Layout.Name} ({d.Layout.Questions}{sep}, {d.Layout.Annotations}{sep}, {d.Layout.Features}{sep})"

/// One split as the official files name it: its questions' split and its images' split.
type Split =
    { QuestionSplit: string
      ImageSplit: string }

let train = { QuestionSplit = "train2014"; ImageSplit = "train2014" }
let validation = { QuestionSplit = "val2014"; ImageSplit = "val2014" }

/// The test splits, in the order they are looked for; both ask about the test2015 images.
let tests = [ { QuestionSplit = "test2015"; ImageSplit = "test2015" }; { QuestionSplit = "test-dev2015"; ImageSplit = "test2015" } ]

/// The first layout, and in it VQA v2 then v1, whose training questions are there; None: not VQA.
let detect (dir: string) : Found option =
    [ for layout in layouts do
          for version in [ V2; V1 ] -> { Root = dir; Version = version; Layout = layout } ]
    |> List.tryFind (fun d -> File.Exists(questionsFile d train.QuestionSplit))

/// Where `dir` has parts of a VQA layout but not its training questions: the error naming the file
/// expected (in the layout most of whose folders are there, the version its annotations have, v2
/// when none). None where nothing of VQA is there: a questions folder counts only when it holds an
/// official VQA file, as CLEVR has a `questions/` too.
let missingQuestions (dir: string) : DataError option =
    let isDir (relative: string) = Directory.Exists(Path.Combine(dir, relative))
    let officialIn (relative: string) (pattern: string) = isDir relative && Directory.EnumerateFiles(Path.Combine(dir, relative), pattern).GetEnumerator().MoveNext()
    let parts (layout: Layout) =
        [ if officialIn layout.Questions "*OpenEnded_mscoco_*" then layout.Questions
          if isDir layout.Annotations then layout.Annotations
          if isDir layout.Features then layout.Features ]
    match layouts |> List.map (fun l -> l, parts l) |> List.filter (fun (_, p) -> not p.IsEmpty) with
    | [] -> None
    | candidates ->
        let layout, seen = candidates |> List.maxBy (fun (_, p) -> p.Length)
        let version =
            if File.Exists(annotationsFile { Root = dir; Version = V1; Layout = layout } train.QuestionSplit)
               && not (File.Exists(annotationsFile { Root = dir; Version = V2; Layout = layout } train.QuestionSplit))
            then V1
            else V2
        let expected = questionsFile { Root = dir; Version = version; Layout = layout } train.QuestionSplit
        let other = if version = V2 then "VQA v1" else "VQA v2"
        let sep = string Path.DirectorySeparatorChar
        let has = seen |> List.map (fun p -> p + sep) |> String.concat " and "
        Some(DataError.make expected None $"file not found (nor its {other} name): the directory has VQA's {has} but not the training questions")

let featureRoot (d: Found) = Path.Combine(d.Root, d.Layout.Features)

/// Stack-NMN's file for one image, as its extraction script names it.
let npyFile (d: Found) (imageSplit: string) (imageId: int) =
    Path.Combine(featureRoot d, imageSplit, $"COCO_{imageSplit}_{imageId:D12}.npy")

let hdf5File (d: Found) (imageSplit: string) = Path.Combine(featureRoot d, $"{imageSplit}.h5")

/// The official name of a results file for the evaluation server.
let resultsFileName (questionSplit: string) = $"vqa_OpenEnded_mscoco_{questionSplit}_lnmn_results.json"
