/// A split's examples at some indices turned into a labelled batch of tensors: padded tokens,
/// feature rows, answers and, for VQA, soft targets.
module Lnmn.Core.Training.LabelledBatches

open TorchSharp
open Lnmn.Core.Data
open Lnmn.Core.Data.Batching

/// (B, answers) float32: min(1, humans who gave the answer / 3) for each example at `indices`.
let softTargets (device: torch.Device) (split: Split) (indices: int[]) =
    let targets = Array.zeroCreate<float32> (indices.Length * split.AnswerCount)
    indices
    |> Array.iteri (fun b i ->
        match split.Examples[i].Vqa with
        | Some v -> for answer, target in VqaAnswers.softTargets v.HumanAnswers do targets[b * split.AnswerCount + answer] <- target
        | None -> ())
    torch.tensor(targets, device = device).reshape(int64 indices.Length, int64 split.AnswerCount)

/// A labelled batch on `device` from the examples at `indices`.
let batch (device: torch.Device) (split: Split) (indices: int[]) : Steps.LabelledBatch =
    let padded = pad split.Examples indices
    let b = int64 indices.Length
    let f = split.Features
    { Input =
        { Tokens = torch.tensor(padded.Tokens, device = device).reshape(b, int64 padded.MaxLength)
          Lengths = torch.tensor(padded.Lengths, device = device)
          Features = torch.tensor(f.Read padded.ImageIndices, device = device).reshape(b, int64 f.Channels, int64 f.Height, int64 f.Width) }
      Answers = torch.tensor(padded.Answers, device = device)
      SoftTargets = if isVqa split then Some(softTargets device split indices) else None }
