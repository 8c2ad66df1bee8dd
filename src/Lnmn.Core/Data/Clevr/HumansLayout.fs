/// Where a CLEVR-Humans directory keeps its files: the release's JSON files under their own names,
///
///   CLEVR-Humans-train.json, CLEVR-Humans-val.json, CLEVR-Humans-test.json
///   {"questions": [{question, answer, image_index, image_filename}]}
///
/// and CLEVR's features in CLEVR's layout (`DatasetLayout`: `features/<split>_features.h5`,
/// `<split>_features.h5` or `features/<split>/*.npy`), in the same folder or, where it has none, in the
/// folder above it (clevr-iep's `data/train_features.h5` beside the release's `data/CLEVR-Humans/`).
/// Each question's image is the one its `image_filename` names: `CLEVR_val_000123.png` is row 123 of
/// CLEVR's val features, whichever Humans split asks about it.
module Lnmn.Core.Data.HumansLayout

open System
open System.IO

let splits = [ "train"; "val"; "test" ]

let questionsFile (dir: string) (split: string) = Path.Combine(dir, $"CLEVR-Humans-{split}.json")

/// A CLEVR-Humans directory as found: where the release's files are, and the folder whose CLEVR
/// features its questions' images are read from.
type Found =
    { Root: string
      Features: string }

/// Whether `dir` holds features of any CLEVR split in CLEVR's layout.
let private hasFeatures (dir: string) =
    [ "train"; "val"; "test" ]
    |> List.exists (fun s -> DatasetLayout.featureCandidates dir s |> List.exists File.Exists || Directory.Exists(DatasetLayout.npyDirectory dir s))

/// Some where any of the release's files is in `dir` (a missing training file is `HumansDataset`'s
/// error); the features in `dir`, else in its parent where that has some, else (to be reported
/// missing) in `dir`.
let detect (dir: string) : Found option =
    if splits |> List.exists (fun s -> File.Exists(questionsFile dir s)) then
        let parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath dir))
        let features = if hasFeatures dir || isNull parent || not (hasFeatures parent) then dir else parent
        Some { Root = dir; Features = features }
    else None

/// The CLEVR split and image index an `image_filename` names: CLEVR_val_000123.png → ("val", 123).
let imageOf (filename: string) : (string * int) option =
    let m = Text.RegularExpressions.Regex.Match(filename, @"^CLEVR_([A-Za-z]+)_(\d+)\.png$")
    match m.Success, Int32.TryParse m.Groups[2].Value with
    | true, (true, index) -> Some(m.Groups[1].Value, index)
    | _ -> None

let describe (found: Found) =
    let where = if found.Features = found.Root then "the same folder" else $"the folder above ({found.Features})"
    $"CLEVR-Humans as released (CLEVR-Humans-<split>.json), with CLEVR's features from {where}, each question's image by its image_filename"
