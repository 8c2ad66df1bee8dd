/// Loads a dataset directory in whichever layout it has: VQA's (`VqaLayout`: the official file
/// names in one of its folder layouts), CLEVR-Humans as released (`HumansLayout`, with CLEVR's
/// features) or CLEVR's (`DatasetLayout`, also the built-in dataset's).
module Lnmn.Core.Data.AnyDataset

open System.IO

type Layout =
    | Vqa of VqaLayout.Found
    | Humans of HumansLayout.Found
    | Clevr

/// The layout of `dir`; an Error where it holds part of VQA's layout without its training
/// questions (naming that VQA file), or both CLEVR's and CLEVR-Humans' questions.
let detect (dir: string) : Result<Layout, DataError> =
    match HumansLayout.detect dir, VqaLayout.detect dir with
    | Some _, _ when File.Exists(DatasetLayout.questionsFile dir "train") ->
        let humans = HumansLayout.splits |> List.map (HumansLayout.questionsFile dir) |> List.find File.Exists
        let clevr = DatasetLayout.questionsFile dir "train"
        Error(DataError.make humans None $"CLEVR-Humans' questions beside CLEVR's own ({clevr}): keep them in a folder of their own (CLEVR's features may stay in the folder above it)")
    | Some humans, _ -> Ok(Humans humans)
    | None, Some vqa -> Ok(Vqa vqa)
    | None, None ->
        match VqaLayout.missingQuestions dir with
        | Some e -> Error e
        | None -> Ok Clevr

/// Which layout it is, in words (`lnmn-train validate`).
let describe (layout: Layout) =
    match layout with
    | Vqa found -> VqaLayout.describe found
    | Humans found -> HumansLayout.describe found
    | Clevr -> "CLEVR's layout (questions/CLEVR_<split>_questions.json, the features beside)"

/// `vqaAnswers` sizes a VQA answer vocabulary built here (used when `origin` is `FromTraining`).
let load (origin: Vocabulary.Origin) (vqaAnswers: int) (dir: string) : Result<Dataset.Dataset, DataError> =
    detect dir
    |> Result.bind (fun layout ->
        match layout with
        | Vqa found -> VqaDataset.loadFound origin vqaAnswers found
        | Humans found -> HumansDataset.loadFound origin found
        | Clevr -> Dataset.loadWith origin dir)
