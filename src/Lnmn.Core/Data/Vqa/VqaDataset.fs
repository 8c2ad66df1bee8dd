/// Loads a VQA v1 / v2 directory (`VqaLayout`) into the same `Dataset` as CLEVR: train2014 and
/// val2014 with their annotations, the test split when its questions are there, and per-image
/// features opened lazily. Problems come back as one-line DataErrors before anything is trained.
module Lnmn.Core.Data.VqaDataset

open System.Collections.Generic
open System.IO
open Lnmn.Core.Data.Batching
open Lnmn.Core.Data.Dataset

/// One annotation, reduced to what training and scoring need.
type private Labels = { ImageId: int; Index: int; MultipleChoice: string; Labels: VqaLabels }

let private interned (pool: Dictionary<string, string>) (s: string) =
    match pool.TryGetValue s with
    | true, shared -> shared
    | _ ->
        pool[s] <- s
        s

let private annotationsFile (found: VqaLayout.Found) (split: VqaLayout.Split) = VqaLayout.annotationsFile found split.QuestionSplit

/// The annotations of a split by question id; raises DataException (a missing file included).
let private readLabels (path: string) (questionSplit: string) (answerIds: Dictionary<string, int>) : Dictionary<int, Labels> =
    if not (File.Exists path) then DataError.fail path None $"file not found (the VQA annotations of the {questionSplit} questions)"
    let pool = Dictionary<string, string>()
    let byQuestion = Dictionary<int, Labels>()
    for a in VqaJson.readAnnotations path do
        if byQuestion.ContainsKey a.QuestionId then
            DataError.fail path (Some $"annotation {a.Index}") $"question_id {a.QuestionId} is annotated twice"
        let idOf answer = match answerIds.TryGetValue(VqaAnswers.normalise answer) with | true, i -> i | _ -> -1
        byQuestion[a.QuestionId] <-
            { ImageId = a.ImageId
              Index = a.Index
              MultipleChoice = VqaAnswers.normalise a.MultipleChoiceAnswer
              Labels =
                { QuestionId = a.QuestionId
                  QuestionType = interned pool a.QuestionType
                  AnswerType = interned pool a.AnswerType
                  HumanAnswers = Array.map idOf a.Answers } }
    byQuestion

/// The features of the images `imageIds` (sorted), row i holding imageIds[i]: one HDF5 file when it
/// is there, else one .npy per image, every one of which must exist.
let private openFeatures (found: VqaLayout.Found) (split: VqaLayout.Split) (questionsPath: string) (firstAsker: Dictionary<int, int>) (imageIds: int[]) =
    let hdf5 = VqaLayout.hdf5File found split.ImageSplit
    if File.Exists hdf5 then
        match Features.openHdf5Rows hdf5 imageIds with
        | Ok source -> source
        | Error e -> raise (DataException e)
    else
        let files = imageIds |> Array.map (VqaLayout.npyFile found split.ImageSplit)
        for imageId, file in Array.zip imageIds files do
            if not (File.Exists file) then
                DataError.fail questionsPath (Some $"question {firstAsker[imageId]}") $"no features for image {imageId} (expected {file})"
        match Features.openNpyFiles (Path.Combine(VqaLayout.featureRoot found, split.ImageSplit)) files with
        | Ok source -> source
        | Error e -> raise (DataException e)

/// A split's questions, read whole.
let private readSplitQuestions (found: VqaLayout.Found) (split: VqaLayout.Split) =
    let questionsPath = VqaLayout.questionsFile found split.QuestionSplit
    if not (File.Exists questionsPath) then DataError.fail questionsPath None $"file not found (the VQA {split.QuestionSplit} questions)"
    VqaJson.readQuestions questionsPath |> Array.ofSeq

/// Encodes a split's questions. With `labels`, every question must have its annotation; without
/// (a test split), questions carry only their ids.
let private loadSplit (found: VqaLayout.Found) (vocabulary: Vocabulary.Vocabulary) (split: VqaLayout.Split) (labels: Dictionary<int, Labels> option) (questions: VqaJson.VqaQuestion[]) =
    let questionsPath = VqaLayout.questionsFile found split.QuestionSplit
    let ids = Vocabulary.tokenIds vocabulary
    let answerIds = Dictionary<string, int>()
    vocabulary.Answers |> Array.iteri (fun i a -> answerIds[a] <- i)
    let firstAsker = Dictionary<int, int>()
    for q in questions do firstAsker.TryAdd(q.ImageId, q.Index) |> ignore
    let imageIds = firstAsker.Keys |> Array.ofSeq |> Array.sort
    let rowOf = Dictionary<int, int>()
    imageIds |> Array.iteri (fun row id -> rowOf[id] <- row)
    let annotationsPath = annotationsFile found split
    let examples =
        questions
        |> Array.map (fun q ->
            let at = Some $"question {q.Index}"
            let answer, vqa =
                match labels with
                | None -> -1, { QuestionId = q.QuestionId; QuestionType = ""; AnswerType = ""; HumanAnswers = [||] }
                | Some byQuestion ->
                    match byQuestion.TryGetValue q.QuestionId with
                    | false, _ -> DataError.fail questionsPath at $"question_id {q.QuestionId} has no annotation in {annotationsPath}"
                    | true, l when l.ImageId <> q.ImageId ->
                        DataError.fail questionsPath at $"image_id {q.ImageId}, but annotation {l.Index} of {annotationsPath} says {l.ImageId}"
                    | true, l -> (match answerIds.TryGetValue l.MultipleChoice with | true, i -> i | _ -> -1), l.Labels
            { Tokens = Vocabulary.encodeWith ids q.Text
              Answer = answer
              ImageIndex = rowOf[q.ImageId]
              Category = None
              LastFunction = None
              QuestionIndex = q.Index
              Vqa = Some vqa })
    let features = openFeatures found split questionsPath firstAsker imageIds
    { Name = split.QuestionSplit; Examples = examples; Features = features; AnswerCount = vocabulary.Answers.Length }

/// The vocabulary of a VQA directory: question tokens of the training questions (their texts given)
/// and the `answerCount` most frequent training multiple-choice answers.
let buildVocabulary (found: VqaLayout.Found) (answerCount: int) (trainingTexts: seq<string>) =
    let trainAnnotations = annotationsFile found VqaLayout.train
    if not (File.Exists trainAnnotations) then
        DataError.fail trainAnnotations None $"file not found (the VQA annotations of the {VqaLayout.train.QuestionSplit} questions)"
    let answers =
        VqaJson.readAnnotations trainAnnotations |> Seq.map (fun a -> VqaAnswers.normalise a.MultipleChoiceAnswer) |> VqaAnswers.vocabulary answerCount
    Vocabulary.build (List.ofArray answers) trainingTexts

let private checkShape (reference: Split) (split: Split) =
    let shape (s: Split) = s.Features.Channels, s.Features.Height, s.Features.Width
    if shape split <> shape reference then
        let c, h, w = shape split
        let c0, h0, w0 = shape reference
        DataError.fail split.Features.Path None $"feature maps are {c}×{h}×{w}, the training split's are {c0}×{h0}×{w0}"

/// Loads train2014, val2014 and (when its questions are there) test2015 or test-dev2015 of a VQA
/// directory as `VqaLayout.detect` found it. The training questions are read once, for the
/// vocabulary (as `origin` says) and for their examples.
let loadFound (origin: Vocabulary.Origin) (answerCount: int) (found: VqaLayout.Found) : Result<Dataset, DataError> =
    let dir = found.Root
    let opened = ResizeArray<Split>()
    let result =
        DataError.catch dir (fun () ->
            let trainQuestions = readSplitQuestions found VqaLayout.train
            let vocabulary =
                Vocabulary.ofOrigin origin (buildVocabulary found answerCount) (trainQuestions |> Seq.map (fun q -> q.Text))
            let answerIds = Dictionary<string, int>()
            vocabulary.Answers |> Array.iteri (fun i a -> answerIds[a] <- i)
            let labelled split questions =
                let labels = readLabels (annotationsFile found split) split.QuestionSplit answerIds
                let data = loadSplit found vocabulary split (Some labels) questions
                opened.Add data
                data
            let train = labelled VqaLayout.train trainQuestions
            let value = labelled VqaLayout.validation (readSplitQuestions found VqaLayout.validation)
            checkShape train value
            let test =
                VqaLayout.tests
                |> List.tryFind (fun s -> File.Exists(VqaLayout.questionsFile found s.QuestionSplit))
                |> Option.map (fun s ->
                    let data = loadSplit found vocabulary s None (readSplitQuestions found s)
                    opened.Add data
                    checkShape train data
                    data)
            { Directory = dir; Vocabulary = vocabulary; Train = train; Val = value; Test = test })
    if Result.isError result then for s in opened do s.Features.Dispose()
    result

/// `loadFound` on `dir` in whichever VQA layout it has; not VQA: the error `VqaLayout.missingQuestions`
/// gives, else one naming the lower-case layout's training questions.
let load (origin: Vocabulary.Origin) (answerCount: int) (dir: string) : Result<Dataset, DataError> =
    match VqaLayout.detect dir with
    | Some found -> loadFound origin answerCount found
    | None ->
        match VqaLayout.missingQuestions dir with
        | Some e -> Error e
        | None ->
            let expected = VqaLayout.questionsFile { Root = dir; Version = VqaLayout.V2; Layout = VqaLayout.lowerCase } VqaLayout.train.QuestionSplit
            Error(DataError.make expected None "file not found (nor its VQA v1 name, nor in the VQA API's Questions/): not a VQA directory")
