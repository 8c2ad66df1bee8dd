/// Checks a dataset directory and lists what is wrong, one line per problem.
module Lnmn.Core.Data.Validate

open System.IO

/// Scans every feature row for NaN / Inf, a batch at a time.
let private scanFeatures (features: Features.FeatureSource) =
    DataError.catch features.Path (fun () ->
        let mutable start = 0
        while start < features.Count do
            let count = min 64 (features.Count - start)
            features.Read(Array.init count (fun i -> start + i)) |> ignore
            start <- start + count)

/// The first question whose program, run on its scene, fails or gives another answer.
let private firstMismatch (questionsPath: string) (scenes: Scenes.Scene[]) : DataError option =
    let byImage = scenes |> Array.map (fun s -> s.ImageIndex, s) |> dict
    ClevrJson.readQuestions questionsPath
    |> Seq.tryPick (fun q ->
        let problem message = Some(DataError.make questionsPath (Some $"question {q.Index}") message)
        match q.Program, q.Answer with
        | Some program, Some expected ->
            match byImage.TryGetValue q.ImageIndex with
            | false, _ -> problem $"no scene with image index {q.ImageIndex} in the scenes file"
            | true, scene ->
                match Scenes.answer scene program with
                | Error e -> problem $"program fails on scene {q.ImageIndex}: {e}"
                | Ok actual when actual <> expected -> problem $"program gives '{actual}' on scene {q.ImageIndex}, the answer is '{expected}'"
                | Ok _ -> None
        | _ -> None)

/// Problems found in `dir` (empty when it is fine): questions, answers, programs, image
/// indices against feature rows, feature shape and dtype, NaN/Inf, the scenes files, and (where a
/// split has a scenes file) each program re-executed against its answer. A VQA directory gets the
/// checks of its loader and the NaN/Inf scan.
let directory (dir: string) : string list =
    if not (Directory.Exists dir) then [ $"{dir}: directory not found" ]
    else
        match AnyDataset.load Vocabulary.FromTraining VqaAnswers.defaultVocabularySize dir with
        | Error e -> [ DataError.describe e ]
        | Ok dataset ->
            use _ = dataset
            let splits = [ dataset.Train; dataset.Val ] @ Option.toList dataset.Test
            let shape (s: Batching.Split) = s.Features.Channels, s.Features.Height, s.Features.Width
            let shown (c, h, w) = $"{c}×{h}×{w}"
            let shapes = splits |> List.countBy shape
            let featureProblems =
                match shapes with
                | [ _ ] -> splits |> List.choose (fun s -> match scanFeatures s.Features with Error e -> Some(DataError.describe e) | Ok() -> None)
                | _ ->
                    // Blame the splits that disagree with the majority; with no majority, name them all.
                    let most = shapes |> List.maxBy snd
                    if shapes |> List.filter (fun (_, n) -> n = snd most) |> List.length > 1 then
                        [ "the splits' feature maps disagree: " + (splits |> List.map (fun s -> $"{s.Features.Path} is {shown (shape s)}") |> String.concat ", ") ]
                    else
                        [ for s in splits do
                              if shape s <> fst most then
                                  yield $"{s.Features.Path}: feature maps are {shown (shape s)}, the other splits' are {shown (fst most)}" ]
            let sceneProblems =
                [ for split in [ "train"; "val" ] do
                      let path = DatasetLayout.scenesFile dir split
                      if File.Exists path then
                          match ClevrJson.readScenesChecked path with
                          | Error e -> yield DataError.describe e
                          | Ok scenes ->
                              let questionsPath = DatasetLayout.questionsFile dir split
                              match DataError.catch questionsPath (fun () -> firstMismatch questionsPath scenes) with
                              | Error e -> yield DataError.describe e
                              | Ok(Some e) -> yield DataError.describe e
                              | Ok None -> () ]
            featureProblems @ sceneProblems

/// The layout `dir` was read in, in words; None where it is not a directory or its layout is in doubt
/// (`directory` then says why).
let layout (dir: string) : string option =
    if Directory.Exists dir then AnyDataset.detect dir |> Result.toOption |> Option.map AnyDataset.describe else None

/// One line per split whose questions carry family indices: the per-family answer balance
/// (see `Balance.describe`), for a `validate` report or a benchmark table.
let balanceReport (dir: string) : string list =
    [ for split in [ "train"; "val" ] do
          let path = DatasetLayout.questionsFile dir split
          if File.Exists path then
              match DataError.catch path (fun () -> Balance.summarise (ClevrJson.readQuestions path)) with
              | Error e -> yield DataError.describe e
              | Ok summary when summary.Worst.IsSome -> yield $"{split}: {Balance.describe summary}"
              | Ok _ -> () ]
