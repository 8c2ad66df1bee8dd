/// The step as first written, kept as the reference `FusedStep` is tested and benchmarked
/// against: every module's stack (B, M, L, H, W), pointer (B, M, L) and memory (B, M, mem) are
/// materialised, then summed under the module weights; each cell group runs on its own.
module Lnmn.Core.Network.ReferenceStep

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network.StepModules

/// Maps (B, H, W), as logits like the stack's, that answer cells read in place of the stack: a
/// 3-input answer cell reads `First` as a (and attention-weighted pooling weighs by it), a 4-input
/// one `First` and `Second` as a1 and a2; Stack-NMN's Describe modules read a stack holding `First`
/// at the pointer and `Second` below. Attention cells and modules still read the stack. A diagnostic (the
/// oracle maps of `Lnmn.Analysis.OracleMaps`), not part of the paper's network.
type AnswerMaps = { First: torch.Tensor; Second: torch.Tensor }

/// The img and txt maps answer cells read, for diagnostics.
type AnswerInputs =
    /// The ones every cell reads (the paper's).
    | Shared
    /// The shared ones with their gradient stopped: answer cells train on them but never move the
    /// img and txt projections (nor kb or the controller through them).
    | Detached
    /// Projections of their own: img from kb (B, H, W, kb_dim) and txt from c_t (B, q), as Stack-NMN's
    /// Describe reads kb through a text gate of its own.
    | Own of image: (torch.Tensor -> torch.Tensor) * text: (torch.Tensor -> torch.Tensor)

/// What the answer cells read, for diagnostics. `Maps`: oracle maps instead of the stack.
type AnswerReads =
    { Maps: AnswerMaps option
      Inputs: AnswerInputs }

module AnswerReads =
    /// The network as specified: the stack's maps, the shared img and txt maps.
    let plain = { Maps = None; Inputs = Shared }

/// The step, with answer cells reading as `reads` says.
let applyReading (reads: AnswerReads) (modules: StepModules) (evaluation: NodeOps.NodeEvaluation) (inputs: StepInputs) : StepOutputs =
    let d = modules.Spec.Dims
    let stack, pointer = inputs.Hand.Stack, inputs.Hand.Pointer
    let B, L, H, W = stack.shape.[0], stack.shape.[1], stack.shape.[2], stack.shape.[3]
    let popped = Stack.pop pointer
    // Each group: stacks (B, k, L, H, W), pointers (B, k, L), memory (B, k, mem) or None.
    let routed (kind: CellKind) (count: int) (out: torch.Tensor) =
        let k = int64 count
        let p = Stack.cellPointer modules.Spec.Stack kind pointer popped
        let stacks =
            match kind.Role with
            | Attention -> Stack.write (stack.unsqueeze(1L)) (p.unsqueeze(1L)) out
            | Answer -> stack.unsqueeze(1L)
        let memoryOut = if kind.Role = Answer then Some out else None
        stacks.expand(B, k, L, H, W), p.unsqueeze(1L).expand(B, k, L), memoryOut, k
    let hand (layer: HandModules.HandLayer) =
        let o =
            match reads.Maps, layer.Kind with
            | Some maps, (DescribeOne | DescribeTwo) ->
                // Describe reads the map at the pointer and the one below it: First there, Second
                // in every other slot; the stack it hands on is the real one (Describe leaves it).
                let others = maps.Second.unsqueeze(1L).expand(B, L, H, W)
                { layer.Apply { inputs.Hand with Stack = Stack.write others pointer maps.First } with Stack = stack }
            | _ -> layer.Apply inputs.Hand
        o.Stack.unsqueeze(1L), o.Pointer.unsqueeze(1L), o.Memory |> Option.map (fun m -> m.unsqueeze(1L)), 1L
    let cells =
        match inputs.Cells with
        | Some cellInputs ->
            let inputsOf (kind: CellKind) =
                let read =
                    match kind.Role, reads.Maps with
                    | Answer, Some maps -> { cellInputs with Attention1 = maps.First; Attention2 = Some maps.Second }
                    | _ -> cellInputs
                match kind.Role, reads.Inputs with
                | Answer, Detached -> { read with Image = read.Image.detach(); TextMap = read.TextMap.detach() }
                | Answer, Own(image, text) -> { read with Image = image inputs.Hand.Knowledge; TextMap = text inputs.Hand.Text }
                | _ -> read
            (modules.Groups |> List.map (fun g -> routed g.Kind g.Count (g.Forward(inputsOf g.Kind, evaluation))))
            @ (modules.Concats |> List.map (fun g -> routed g.Kind g.Count (g.Forward(inputsOf g.Kind))))
        | None -> []
    let results = cells @ (modules.Hands |> List.map hand)
    let noOps = int64 modules.NoOps
    let withNoOps (perGroup: torch.Tensor list) (noOpValue: torch.Tensor) =
        let noOpPart = if noOps > 0L then [ noOpValue ] else []
        torch.cat(Array.ofList (perGroup @ noOpPart), 1L)
    let stacks = withNoOps [ for s, _, _, _ in results -> s ] (stack.unsqueeze(1L).expand(B, noOps, L, H, W))
    let pointers = withNoOps [ for _, p, _, _ in results -> p ] (pointer.unsqueeze(1L).expand(B, noOps, L))
    let noMemory k = torch.zeros([| B; k; int64 d.MemDim |], device = stack.device)
    let memories = withNoOps [ for _, _, m, k in results -> defaultArg m (noMemory k) ] (noMemory noOps)
    let w = inputs.Weights.unsqueeze(-1L)
    { Stack = (stacks * w.unsqueeze(-1L).unsqueeze(-1L)).sum(1L)
      Pointer = Stack.sharpen (ModelSpec.pointer modules.Spec) ((pointers * w).sum(1L))
      Memory = (memories * w).sum(1L) }

let apply (modules: StepModules) (evaluation: NodeOps.NodeEvaluation) (inputs: StepInputs) : StepOutputs =
    applyReading AnswerReads.plain modules evaluation inputs
