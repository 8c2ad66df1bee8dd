/// Loads a CLEVR-Humans directory (`HumansLayout`) into the same `Dataset` as CLEVR: the release's
/// train, val and (when there) test questions, each question's image found through its
/// `image_filename` in CLEVR's features of the split that file names (a Humans split may ask about
/// another CLEVR split's images, or several). New words get ids as `origin` says (`Extended` when
/// fine-tuning from a CLEVR checkpoint); the answers are CLEVR's.
module Lnmn.Core.Data.HumansDataset

open System.IO
open Lnmn.Core.Data.Clevr
open Lnmn.Core.Data.Batching
open Lnmn.Core.Data.Dataset

/// The CLEVR split and row of one question's image, as its `image_filename` names it.
let private imageOf (path: string) (q: Question) =
    let at = Some $"question {q.Index}"
    match HumansLayout.imageOf q.ImageFilename with
    | None when q.ImageFilename = "" -> DataError.fail path at "missing field 'image_filename' (it names the question's CLEVR image)"
    | None -> DataError.fail path at $"image_filename '{q.ImageFilename}' is not a CLEVR image name (CLEVR_<split>_<index>.png)"
    | Some(_, index) when index <> q.ImageIndex ->
        DataError.fail path at $"image_filename {q.ImageFilename} names image {index}, image_index says {q.ImageIndex}"
    | Some image -> image

/// One split: row r of its features is the r-th of the images its questions ask about, sorted by
/// (CLEVR split, index), read from that CLEVR split's features. Raises DataException.
let private loadSplit (vocabulary: Vocabulary.Vocabulary) (found: HumansLayout.Found) (name: string) (requireAnswers: bool) (questions: Question[]) =
    let path = HumansLayout.questionsFile found.Root name
    if questions.Length = 0 then DataError.fail path None "no questions"
    let images = questions |> Array.map (imageOf path)
    let distinct = images |> Array.distinct |> Array.sort
    let clevrSplits = distinct |> Array.map fst |> Array.distinct
    let opened = ResizeArray<Features.FeatureSource>()
    let features =
        try
            for s in clevrSplits do
                let hdf5 = DatasetLayout.featureCandidates found.Features s
                let npy = DatasetLayout.npyDirectory found.Features s
                if not (List.exists File.Exists hdf5 || Directory.Exists npy) then
                    let q = questions[images |> Array.findIndex (fun (split, _) -> split = s)]
                    let expected = String.concat ", " (hdf5 @ [ npy + string Path.DirectorySeparatorChar ])
                    DataError.fail path (Some $"question {q.Index}") $"{q.ImageFilename} is a CLEVR {s} image, and CLEVR's {s} features are not found (expected {expected})"
                match openFeatures found.Features s with
                | Ok f -> opened.Add f
                | Error e -> raise (DataException e)
            let sourceOf = clevrSplits |> Array.mapi (fun k s -> s, k) |> dict
            for q, (s, index) in Array.zip questions images do
                let source = opened[sourceOf[s]]
                if index >= source.Count then
                    DataError.fail path (Some $"question {q.Index}") $"{q.ImageFilename}: image {index} is beyond the {source.Count} rows of {source.Path}"
            Features.join (opened.ToArray()) (distinct |> Array.map (fun (s, index) -> sourceOf[s], index))
        with e ->
            for f in opened do f.Dispose()
            reraise ()
    match features with
    | Error e -> raise (DataException e)
    | Ok features ->
        try
            let rowOf = distinct |> Array.mapi (fun row image -> image, row) |> dict
            let examples = encode vocabulary path features.Count requireAnswers (questions |> Array.mapi (fun k q -> { q with ImageIndex = rowOf[images[k]] }))
            { Name = name; Examples = examples; Features = features; AnswerCount = vocabulary.Answers.Length }
        with e ->
            features.Dispose()
            reraise ()

/// Reads a split's questions whole; train and val must have answers, test may not.
let private readSplit (found: HumansLayout.Found) (split: string) (requireAnswers: bool) =
    let path = HumansLayout.questionsFile found.Root split
    if not (File.Exists path) then DataError.fail path None $"file not found (the CLEVR-Humans release's {split} questions)"
    (if requireAnswers then ClevrJson.readHumans path else ClevrJson.readQuestions path) |> Array.ofSeq

/// Loads train and val (and test when its file is there). The training questions are read once,
/// for the vocabulary (as `origin` says) and for their examples.
let loadFound (origin: Vocabulary.Origin) (found: HumansLayout.Found) : Result<Dataset, DataError> =
    let opened = ResizeArray<Split>()
    let result =
        DataError.catch found.Root (fun () ->
            let trainQuestions = readSplit found "train" true
            let vocabulary = Vocabulary.ofOrigin origin (Vocabulary.build answers) (trainQuestions |> Seq.map (fun q -> q.Text))
            let split name requireAnswers questions =
                let data = loadSplit vocabulary found name requireAnswers questions
                opened.Add data
                data
            let train = split "train" true trainQuestions
            let value = split "val" true (readSplit found "val" true)
            let test =
                if File.Exists(HumansLayout.questionsFile found.Root "test") then Some(split "test" false (readSplit found "test" false))
                else None
            { Directory = found.Root; Vocabulary = vocabulary; Train = train; Val = value; Test = test })
    if Result.isError result then for s in opened do s.Features.Dispose()
    result
