/// Algorithm 2's two steps, each a function from the training state and a batch to metrics.
/// The weight step moves only the weights and the α step only α: whichever set is not being
/// trained is frozen (requires_grad off) for the step, so its gradients are not even computed.
module Lnmn.Core.Training.Steps

open System
open TorchSharp
open Lnmn.Core.Network
open Lnmn.Core.Network.LnmnNetwork
open Lnmn.Core.Training.TrainingSpec

/// Network inputs, the answer indices (B) int64, and for VQA the soft targets (B, answers) float32.
type LabelledBatch = { Input: Batch; Answers: torch.Tensor; SoftTargets: torch.Tensor option }

type TrainingState =
    { Network: LnmnNetwork
      WeightOptimiser: Modules.Adam
      AlphaOptimiser: Modules.Adam }

type StepMetrics =
    { Loss: float
      CrossEntropy: float
      Accuracy: float
      /// Mean over examples and steps of H(w(t)).
      ModuleEntropy: float
      /// Mean over examples of H(w(t)), per controller step t.
      ModuleEntropyPerStep: float list
      /// L2 norm of the loss's gradient per part of the network (the top-level module a parameter
      /// belongs to: encoder, controller, kb, cell_groups, classifier, …); empty for the α step.
      GradientNorms: (string * float) list }

module StepMetrics =
    /// What is not finite in `m`, as a run's stop message says it ("the loss became NaN", "the
    /// gradient norm of cell_groups became Infinity"); None when all are finite.
    let nonFinite (m: StepMetrics) =
        let show (x: float) = x.ToString(Globalization.CultureInfo.InvariantCulture)
        if not (Double.IsFinite m.Loss) then Some $"the loss became {show m.Loss}"
        else
            m.GradientNorms
            |> List.tryFind (snd >> Double.IsFinite >> not)
            |> Option.map (fun (part, norm) -> $"the gradient norm of {part} became {show norm} (the loss was {show m.Loss})")

    /// The loss and every gradient norm measured are finite: a step on an infinite gradient would
    /// poison the parameters as a NaN loss would.
    let isFinite (m: StepMetrics) = (nonFinite m).IsNone

/// Adam over these parameters with these settings.
let adam (parameters: Modules.Parameter list) (s: AdamSettings) : Modules.Adam =
    torch.optim.Adam(parameters, lr = s.LearningRate, beta1 = s.Beta1, beta2 = s.Beta2, weight_decay = s.WeightDecay)

/// The optimisers, built outside any dispose scope.
let createState (spec: TrainingSpec) (network: LnmnNetwork) =
    { Network = network
      WeightOptimiser = adam (network.WeightParameters()) spec.Weights
      AlphaOptimiser = adam (network.AlphaParameters()) spec.Alpha }

/// Sets the learning rate of every parameter group.
let setLearningRate (optimiser: Modules.Adam) (rate: float) =
    for group in optimiser.ParamGroups do group.LearningRate <- rate

/// Runs body with requires_grad off on these parameters, then gives each back the flag it had: a
/// parameter frozen by its owner (e.g. the learnt-map probe's copied cells) stays frozen.
let withFrozen (parameters: Modules.Parameter list) (body: unit -> 'T) =
    let before = parameters |> List.map (fun p -> p.requires_grad)
    for p in parameters do p.requires_grad <- false
    try body () finally List.iter2 (fun (p: Modules.Parameter) flag -> p.requires_grad <- flag) parameters before

/// The argmax's share of right answers; with soft targets, the mean target of the argmax (the VQA
/// score up to the official leave-one-out averaging).
let private accuracy (logits: torch.Tensor) (batch: LabelledBatch) =
    let predicted = logits.argmax(-1L)
    match batch.SoftTargets with
    | None -> predicted.eq(batch.Answers).to_type(torch.float32).mean().item<float32>() |> float
    | Some targets -> targets.gather(1L, predicted.unsqueeze(1L)).mean().item<float32>() |> float

/// The metrics of a batch from its loss, CE, logits (B, answers) and module weights (B, T, M).
let metricsOf (loss: torch.Tensor) (crossEntropy: torch.Tensor) (logits: torch.Tensor) (moduleWeights: torch.Tensor) (batch: LabelledBatch) =
    let perStep = Objectives.moduleEntropyPerStep moduleWeights
    { Loss = loss.item<float32>() |> float
      CrossEntropy = crossEntropy.item<float32>() |> float
      Accuracy = accuracy logits batch
      ModuleEntropy = perStep.mean().item<float32>() |> float
      ModuleEntropyPerStep = perStep.data<float32>().ToArray() |> Array.map float |> List.ofArray
      GradientNorms = [] }

let metrics loss crossEntropy (result: ForwardResult) batch = metricsOf loss crossEntropy result.Logits result.ModuleWeights batch

/// The gradient's L2 norm per top-level part of the network, after a backward pass; summed in
/// float64, so a gradient too large to square in float32 still gives a finite norm.
let gradientNorms (network: LnmnNetwork) =
    network.named_parameters()
    |> Seq.filter (fun struct (_, p) -> not (isNull p.grad))
    |> Seq.groupBy (fun struct (name, _) -> name.Split('.').[0])
    |> Seq.map (fun (part, ps) ->
        part, ps |> Seq.sumBy (fun struct (_, p) -> (let g = p.grad.to_type(torch.float64) in (g * g).sum().item<float>())) |> sqrt)
    |> List.ofSeq

/// Applies the optimiser only when the loss and the gradient norms are finite (`StepMetrics.isFinite`).
let stepIfFinite (optimiser: torch.optim.Optimizer) (m: StepMetrics) =
    if StepMetrics.isFinite m then optimiser.step () |> ignore
    m

/// How a step runs the network: `LnmnNetwork.Forward` with the node kernel, the same with torch's
/// composed ops, or its `ReferenceForward` (the bench times all three).
type ForwardPass = LnmnNetwork -> Batch -> ForwardResult

let forward: ForwardPass = fun network batch -> network.Forward(batch, NodeOps.NodeEvaluation.soft)
/// One op per node, argmax α: the network a search derives, as the closing phase trains it.
let hardMaxForward: ForwardPass = fun network batch -> network.Forward(batch, NodeOps.NodeEvaluation.hardMax)
/// The soft network at temperature τ (`NodeEvaluation.softAt`).
let forwardAt (temperature: float) : ForwardPass =
    fun network batch -> network.Forward(batch, NodeOps.NodeEvaluation.softAt temperature)
let composedForward: ForwardPass = fun network batch -> network.Forward(batch, { NodeOps.NodeEvaluation.soft with Arithmetic = NodeOps.Composed })
let referenceForward: ForwardPass = fun network batch -> network.ReferenceForward(batch, NodeOps.NodeEvaluation.soft)

let private weightObjectiveWith (pass: ForwardPass) (spec: TrainingSpec) lambdaW (state: TrainingState) (batch: LabelledBatch) =
    let result = pass state.Network batch.Input
    let ce = Objectives.answerLoss spec.AnswerLoss result.Logits batch.Answers batch.SoftTargets
    Objectives.weightLoss spec.EntropyScaling lambdaW ce result.ModuleWeights, ce, result

let private weightObjective spec lambdaW state batch = weightObjectiveWith forward spec lambdaW state batch

let private alphaObjectiveWith (pass: ForwardPass) (spec: TrainingSpec) (state: TrainingState) (batch: LabelledBatch) =
    let result = pass state.Network batch.Input
    let ce = Objectives.answerLoss spec.AnswerLoss result.Logits batch.Answers batch.SoftTargets
    let alphas = state.Network.AlphaParameters() |> List.map (fun a -> a :> torch.Tensor)
    Objectives.alphaLoss spec.LambdaOp ce alphas, ce, result

let private alphaObjective spec state batch = alphaObjectiveWith forward spec state batch

/// `weightStep` with the network run by `pass`.
let weightStepWith (pass: ForwardPass) (spec: TrainingSpec) (lambdaW: float) (state: TrainingState) (batch: LabelledBatch) : StepMetrics =
    use _ = torch.NewDisposeScope()
    withFrozen (state.Network.AlphaParameters()) (fun () ->
        state.WeightOptimiser.zero_grad ()
        let loss, ce, result = weightObjectiveWith pass spec lambdaW state batch
        loss.backward ()
        { metrics loss ce result batch with GradientNorms = gradientNorms state.Network }
        |> stepIfFinite state.WeightOptimiser)

/// One Adam step on the weights: CE − λ_w · entropy of w(t), on a training batch.
let weightStep spec lambdaW state batch = weightStepWith forward spec lambdaW state batch

/// `alphaStep` with the network run by `pass`.
let alphaStepWith (pass: ForwardPass) (spec: TrainingSpec) (state: TrainingState) (batch: LabelledBatch) : StepMetrics =
    use _ = torch.NewDisposeScope()
    withFrozen (state.Network.WeightParameters()) (fun () ->
        state.AlphaOptimiser.zero_grad ()
        let loss, ce, result = alphaObjectiveWith pass spec state batch
        loss.backward ()
        metrics loss ce result batch |> stepIfFinite state.AlphaOptimiser)

/// One first-order Adam step on α: CE − λ_op · Σ ‖σ(α)‖₂/‖σ(α)‖₁, on an architecture batch.
let alphaStep spec state batch = alphaStepWith forward spec state batch

let private grads (loss: torch.Tensor) (inputs: torch.Tensor list) =
    torch.autograd.grad([| loss |], Array.ofList inputs) |> List.ofSeq

/// One second-order α step (DARTS' finite-difference approximation): with w' = w − ξ∇_w L_train,
/// ∇_α = ∇_α L_val(w', α) − ξ (∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)) / 2ε, w^± = w ± ε ∇_w' L_val,
/// ε = 0.01 / ‖∇_w' L_val‖, ξ the weight learning rate. The weights are restored afterwards.
let unrolledAlphaStep (spec: TrainingSpec) (lambdaW: float) (state: TrainingState) (trainBatch: LabelledBatch) (archBatch: LabelledBatch) =
    use _ = torch.NewDisposeScope()
    let weights = state.Network.WeightParameters() |> List.map (fun p -> p :> torch.Tensor)
    let alphas = state.Network.AlphaParameters() |> List.map (fun p -> p :> torch.Tensor)
    let xi = spec.Weights.LearningRate
    let trainLoss () = let l, _, _ = weightObjective spec lambdaW state trainBatch in l
    let original = weights |> List.map (fun w -> w.detach().clone())
    let setWeights (values: torch.Tensor list) =
        use _ = torch.no_grad ()
        List.iter2 (fun (w: torch.Tensor) (v: torch.Tensor) -> w.copy_(v) |> ignore) weights values
    let gradTrain = grads (trainLoss ()) weights
    setWeights (List.map2 (fun (w: torch.Tensor) g -> w - xi * g) original gradTrain)
    let valLoss, ce, result = alphaObjective spec state archBatch
    let m = metrics valLoss ce result archBatch
    let valGrads = grads valLoss (alphas @ weights)
    let gradAlpha, gradWeights = List.splitAt alphas.Length valGrads
    let norm = gradWeights |> List.sumBy (fun g -> g.square().sum().item<float32>() |> float) |> sqrt
    let epsilon = 0.01 / max norm 1e-12
    let alphaGradAt sign =
        setWeights (List.map2 (fun (w: torch.Tensor) g -> w + sign * epsilon * g) original gradWeights)
        grads (trainLoss ()) alphas
    let plus, minus = alphaGradAt 1.0, alphaGradAt -1.0
    setWeights original
    let combined = List.map3 (fun (ga: torch.Tensor) gp gm -> ga - xi * (gp - gm) / (2.0 * epsilon)) gradAlpha plus minus
    state.AlphaOptimiser.zero_grad ()
    // Loads the combined gradient into α.grad: ∂/∂α Σ α ⊙ g = g.
    (List.map2 (fun (a: torch.Tensor) (g: torch.Tensor) -> (a * g.detach()).sum()) alphas combined |> List.reduce (+)).backward ()
    stepIfFinite state.AlphaOptimiser m

/// Whether the network has α (Stack-NMN's modules and concatenation cells have none).
let hasAlpha (state: TrainingState) = Lnmn.Core.Specs.ModelSpec.hasAlpha state.Network.Spec

/// `architectureStep` with its first-order step given.
let architectureStepWith firstOrder (spec: TrainingSpec) (lambdaW: float) (state: TrainingState) (trainBatch: LabelledBatch) (archBatch: Lazy<LabelledBatch>) =
    if not (hasAlpha state) then None
    elif spec.Unrolled then Some(unrolledAlphaStep spec lambdaW state trainBatch archBatch.Value)
    else Some(firstOrder spec state archBatch.Value)

/// The α half of Algorithm 2 for one batch: first-order or unrolled as the spec says, None (and no
/// architecture batch drawn) for a network without α.
let architectureStep spec lambdaW state trainBatch archBatch = architectureStepWith alphaStep spec lambdaW state trainBatch archBatch
