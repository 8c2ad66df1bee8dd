/// The fused forward (`LnmnNetwork.Forward`) against the reference one (`ReferenceForward`): same
/// outputs and the same gradient for every weight and every α, over the module sets, both stack
/// disciplines, hand modules, concatenation cells and the α evaluations.
module Lnmn.Tests.FusedForwardTests

open Expecto
open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Core.Network.LnmnNetwork
open Lnmn.Tests.TestUtil

let private tolerance = 1e-5

/// A loss that reaches every output the step produces: logits, the pointers' height (soft
/// pointers carry gradient) and the maps under them.
let private loss (r: ForwardResult) =
    let slots = torch.arange(r.Pointers.shape.[2], dtype = torch.float32)
    r.Logits.square().sum() + (r.Pointers * slots).sum() + r.AttentionMaps.square().sum()

let private gradients (net: LnmnNetwork) (forward: unit -> ForwardResult) =
    net.zero_grad ()
    let r = forward ()
    (loss r).backward ()
    r, [ for name, p in net.named_parameters() -> name, (if isNull p.grad then torch.zeros_like(p) else p.grad.clone()) ]

/// Relative to the largest value, so large gradients get the same number of correct digits as small ones.
let private expectSame (actual: torch.Tensor) (expected: torch.Tensor) message =
    let scale = max 1.0 (expected.abs().max().item<float32>() |> float)
    expectAllClose (tolerance * scale) actual expected message

/// The fused forward as `evaluation` says against the reference forward as `referenceEvaluation` says.
let private compareWith (spec: ModelSpec) (evaluation: NodeOps.NodeEvaluation) (referenceEvaluation: NodeOps.NodeEvaluation) (seed: int64) =
    use _ = torch.NewDisposeScope()
    torch.random.manual_seed seed |> ignore
    let net = compile spec
    let batch = NetworkTests.randomBatch seed 5 6 spec.Dims
    let fused, fusedGrads = gradients net (fun () -> net.Forward(batch, evaluation))
    let reference, referenceGrads = gradients net (fun () -> net.ReferenceForward(batch, referenceEvaluation))
    expectSame fused.Logits reference.Logits "logits"
    expectSame fused.ModuleWeights reference.ModuleWeights "module weights"
    expectSame fused.Pointers reference.Pointers "pointers"
    expectSame fused.AttentionMaps reference.AttentionMaps "attention maps"
    Expect.isGreaterThan (List.length referenceGrads) 0 "parameters"
    for (name, g), (_, r) in List.zip fusedGrads referenceGrads do
        expectSame g r $"gradient of {name}"

let private compare (spec: ModelSpec) (evaluation: NodeOps.NodeEvaluation) (seed: int64) = compareWith spec evaluation evaluation seed

let private tiny = NetworkTests.tinyDims
let private attention3, attention4 = Generic { Role = Attention; Arity = ThreeInput }, Generic { Role = Attention; Arity = FourInput }
let private answer3, answer4 = Generic { Role = Answer; Arity = ThreeInput }, Generic { Role = Answer; Arity = FourInput }

let private specs =
    [ for ablation in [ Ablation9; Ablation11; Ablation14 ] do
          for stack in [ Reference; Push ] ->
              $"LNMN-{Ablation.number ablation}, {stack}", NetworkTests.tinySpec ablation stack
      for stack in [ Reference; Push ] ->
          $"concatenation cells, {stack}", { ModelSpec.concat Ablation11 tiny with Stack = stack }
      yield "Stack-NMN, hard pointer", ModelSpec.stackNmn tiny
      yield "Stack-NMN, soft pointer", { ModelSpec.stackNmn tiny with Pointer = Some PointerSharpening.lnmn }
      yield "4-input cells only, no NoOp", { ModelSpec.lnmn Ablation9 tiny with Modules = [ attention4; answer4; answer4 ]; Stack = Push }
      yield "3-input cells only", { ModelSpec.lnmn Ablation9 tiny with Modules = [ answer3; attention3; NoOp ] }
      for stack in [ Reference; Push ] ->
          $"LNMN-11, answer cells pooled under the attention map, {stack}",
          { NetworkTests.tinySpec Ablation11 stack with AnswerPooling = Some AttentionWeighted }
      for pooling in [ AttentionSquared; AttentionWeightedAndSquared; GatedProduct; AttentionWeightedAndDescribe ] ->
          $"LNMN-11, answer pooling {pooling}", { NetworkTests.tinySpec Ablation11 Reference with AnswerPooling = Some pooling }
      yield "LNMN-11, each op normalised before the mixture",
            { NetworkTests.tinySpec Ablation11 Reference with NodeMix = Some NormaliseEachOp; AnswerPooling = Some AttentionWeightedAndDescribe }
      yield "attention cells only", { ModelSpec.lnmn Ablation9 tiny with Modules = [ attention3; attention4; NoOp ] }
      yield "answer cells only", { ModelSpec.lnmn Ablation9 tiny with Modules = [ answer3; answer4; NoOp ] }
      yield "generic, concatenation and hand modules together, push",
            { ModelSpec.lnmn Ablation9 tiny with
                Modules = [ attention3; Concat { Role = Answer; Arity = FourInput }; Hand Find; answer4; Hand DescribeTwo; NoOp; attention4; Hand Transform ]
                Stack = Push } ]

[<Tests>]
let tests =
    testList "fused forward" [
        for i, (name, spec) in List.indexed specs do
            test $"{name}: same outputs and gradients as the reference forward" { compare spec NodeOps.NodeEvaluation.soft (100L + int64 i) }
        test "LNMN-14, each op normalised, hard-max α: same as the reference" {
            compare { NetworkTests.tinySpec Ablation14 Push with NodeMix = Some NormaliseEachOp } NodeOps.NodeEvaluation.hardMax 400L
        }
        for ablation in [ Ablation11; Ablation14 ] do
            test $"LNMN-{Ablation.number ablation}, each op normalised: the kernels as the reference in torch's composed ops" {
                let spec = { NetworkTests.tinySpec ablation Push with NodeMix = Some NormaliseEachOp; AnswerPooling = Some AttentionWeightedAndDescribe }
                compareWith spec NodeOps.NodeEvaluation.soft { NodeOps.NodeEvaluation.soft with Arithmetic = NodeOps.Composed } 500L
            }
        for ablation in [ Ablation9; Ablation14 ] do
            test $"LNMN-{Ablation.number ablation}, hard-max α: same as the reference" {
                compare (NetworkTests.tinySpec ablation Push) NodeOps.NodeEvaluation.hardMax 200L
            }
            test $"LNMN-{Ablation.number ablation}, min and product disabled: same as the reference" {
                compare (NetworkTests.tinySpec ablation Reference) { NodeOps.NodeEvaluation.soft with DisabledOps = [ Min; Product ] } 300L
            }
    ]
