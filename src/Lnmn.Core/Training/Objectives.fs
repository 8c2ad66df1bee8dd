/// The two losses of Algorithm 2.
module Lnmn.Core.Training.Objectives

open TorchSharp
open Lnmn.Core.Training.TrainingSpec

/// The answer loss the spec names: softmax CE on the answer ids (B) int64, or sigmoid CE on the soft
/// targets (B, answers), summed over answers and averaged over the batch.
let answerLoss (loss: AnswerLoss option) (logits: torch.Tensor) (answers: torch.Tensor) (softTargets: torch.Tensor option) =
    match loss, softTargets with
    | (None | Some SoftmaxCrossEntropy), _ -> torch.nn.functional.cross_entropy(logits, answers)
    | Some SigmoidSoftTargets, Some targets ->
        torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction = torch.nn.Reduction.Sum) / float logits.shape[0]
    | Some SigmoidSoftTargets, None -> invalidArg "softTargets" "sigmoid cross-entropy needs the batch's soft targets"

/// H(w(t)) per example and step: (B, T, M) → (B, T).
let private entropies (moduleWeights: torch.Tensor) =
    let logs = (Lnmn.Core.Network.Tensors.withScalar 1e-12 moduleWeights.clamp_min).log()
    -(moduleWeights * logs).sum(-1L)

/// Mean over steps of H(w(t)) per example: (B, T, M) → (B).
let moduleEntropy (moduleWeights: torch.Tensor) = (entropies moduleWeights).mean([| 1L |])

/// Mean over examples of H(w(t)) per step: (B, T, M) → (T).
let moduleEntropyPerStep (moduleWeights: torch.Tensor) = (entropies moduleWeights).mean([| 0L |])

/// CE − λ_w · entropy term, scaled as the spec says.
let weightLoss (scaling: EntropyScaling) (lambdaW: float) (crossEntropy: torch.Tensor) (moduleWeights: torch.Tensor) =
    let entropy = moduleEntropy moduleWeights
    let term =
        match scaling with
        | PaperBatchMean -> entropy.mean()
        | AuthorsCodeSum -> Lnmn.Core.Network.Tensors.withScalar 0.01 (fun k -> entropy.sum() * k)
    crossEntropy - Lnmn.Core.Network.Tensors.withScalar lambdaW (fun l -> term * l)

/// Σ over modules and nodes of ‖σ(α)‖₂ / ‖σ(α)‖₁; each α is (k, nodes, 6).
let alphaSparsity (alphas: torch.Tensor list) =
    alphas
    |> List.map (fun a ->
        let s = a.softmax(-1L)
        ((Lnmn.Core.Network.Tensors.square s).sum(-1L).sqrt() / s.abs().sum(-1L)).sum())
    |> List.reduce (+)

/// CE_val − λ_op · sparsity.
let alphaLoss (lambdaOp: float) (crossEntropy: torch.Tensor) (alphas: torch.Tensor list) =
    crossEntropy - Lnmn.Core.Network.Tensors.withScalar lambdaOp (fun l -> alphaSparsity alphas * l)
