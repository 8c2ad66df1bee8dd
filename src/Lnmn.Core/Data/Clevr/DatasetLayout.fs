/// Where a dataset directory keeps its files (real CLEVR and the built-in dataset alike).
module Lnmn.Core.Data.DatasetLayout

open System.IO

let questionsFile (dir: string) (split: string) = Path.Combine(dir, "questions", $"CLEVR_{split}_questions.json")

let scenesFile (dir: string) (split: string) = Path.Combine(dir, "scenes", $"CLEVR_{split}_scenes.json")

/// `<dir>/features/<split>_features.h5`, or `<dir>/<split>_features.h5` as clevr-iep writes it.
let featureCandidates (dir: string) (split: string) =
    [ Path.Combine(dir, "features", $"{split}_features.h5"); Path.Combine(dir, $"{split}_features.h5") ]

/// Stack-NMN's layout: `<dir>/features/<split>/` holding one .npy per image.
let npyDirectory (dir: string) (split: string) = Path.Combine(dir, "features", split)

let builtInOptionsFile (dir: string) = Path.Combine(dir, "builtin-options.json")
