/// Encoded examples, the split record that carries them with their features, the architecture
/// split, seeded shuffling and padded batches.
module Lnmn.Core.Data.Batching

open System
open Lnmn.Core.Data.Clevr

/// What a VQA question carries besides its tokens: its id, its types and the human answers.
type VqaLabels =
    { QuestionId: int
      /// The annotation's question-type prefix; "" in a test split.
      QuestionType: string
      /// "yes/no", "number" or "other"; "" in a test split.
      AnswerType: string
      /// Answer ids of the (normalised) human answers, −1 for those outside the vocabulary; empty
      /// in a test split.
      HumanAnswers: int[] }

type Example =
    { Tokens: int[]
      /// Answer id; −1 when the question has no answer (CLEVR's test split) or, for VQA, when its
      /// multiple-choice answer is outside the vocabulary.
      Answer: int
      ImageIndex: int
      Category: Category option
      LastFunction: LastFunction option
      QuestionIndex: int
      /// None for CLEVR.
      Vqa: VqaLabels option }

/// One split of a dataset: its examples with the feature rows their image indices point into, and
/// the size of the answer vocabulary (the width of VQA's soft targets).
type Split =
    { Name: string
      Examples: Example[]
      Features: Features.FeatureSource
      AnswerCount: int }

/// Whether the examples are VQA's (scored by the VQA accuracy, trained on soft targets).
let isVqa (split: Split) = split.Examples.Length > 0 && split.Examples[0].Vqa.IsSome

/// Moves a seeded random `fraction` of the training examples into the architecture split (held out
/// of train for the α steps): (train, architecture).
let splitArchitecture (seed: int) (fraction: float) (train: Example[]) : Example[] * Example[] =
    if fraction < 0.0 || fraction >= 1.0 then invalidArg "fraction" "the architecture fraction must be in [0, 1)"
    let order = Array.init train.Length id
    Random(seed).Shuffle order
    let held = int (Math.Round(fraction * float train.Length))
    let heldSet = Collections.Generic.HashSet(order[.. held - 1])
    train |> Array.indexed |> Array.filter (fun (i, _) -> not (heldSet.Contains i)) |> Array.map snd,
    order[.. held - 1] |> Array.sort |> Array.map (fun i -> train[i])

/// Index arrays of the batches of one epoch: a permutation fixed by (seed, epoch), cut into
/// batches of `batchSize` (the last one may be shorter).
let batches (seed: int) (epoch: int) (batchSize: int) (count: int) : int[][] =
    if batchSize <= 0 then invalidArg "batchSize" "must be positive"
    let order = Array.init count id
    Random(seed * 100003 + epoch).Shuffle order
    Array.chunkBySize batchSize order

/// Batches in the examples' own order (evaluation).
let sequentialBatches (batchSize: int) (count: int) : int[][] = Array.chunkBySize batchSize (Array.init count id)

type PaddedBatch =
    { /// B × MaxLength, row-major, padded with 0.
      Tokens: int64[]
      Lengths: int64[]
      MaxLength: int
      Answers: int64[]
      ImageIndices: int[] }

let pad (examples: Example[]) (indices: int[]) : PaddedBatch =
    let chosen = indices |> Array.map (fun i -> examples[i])
    let maxLength = chosen |> Array.fold (fun m e -> max m e.Tokens.Length) 0
    let tokens = Array.zeroCreate<int64> (chosen.Length * maxLength)
    chosen |> Array.iteri (fun b e -> e.Tokens |> Array.iteri (fun s t -> tokens[b * maxLength + s] <- int64 t))
    { Tokens = tokens
      Lengths = chosen |> Array.map (fun e -> int64 e.Tokens.Length)
      MaxLength = maxLength
      Answers = chosen |> Array.map (fun e -> int64 e.Answer)
      ImageIndices = chosen |> Array.map (fun e -> e.ImageIndex) }
