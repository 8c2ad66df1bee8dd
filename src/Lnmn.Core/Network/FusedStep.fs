/// One step with the modules' stacks and pointers folded into sums that never materialise a stack
/// or pointer per module. Every module either leaves the stack alone or writes its map x_m at a
/// pointer p_m, so with q_m = w_m·p_m over the writing modules
///   Σ_m w_m·write(A, p_m, x_m) = A·(Σ w − Σ q_m) + Σ_m q_m ⊗ x_m
/// (hand modules, which build their own stacks, add w_h·A_h). The next pointer is
/// sharpen(Σ_m w_m p_m), where p_m is one of a few candidates (one per group), and memory is
/// Σ_{answer m} w_m·out_m.
module Lnmn.Core.Network.FusedStep

open TorchSharp
open Lnmn.Core.Specs
open Lnmn.Core.Network.StepModules

/// Modules that run as one block: `Count` weight columns sharing one pointer; attention maps
/// (B, Count, H, W), answer outputs (B, Count, mem_dim) or a stack (B, Count, L, H, W) they wrote.
type private Block =
    { Count: int
      Pointer: torch.Tensor
      Maps: torch.Tensor option
      Memory: torch.Tensor option
      Stack: torch.Tensor option }

let private block count pointer =
    { Count = count; Pointer = pointer; Maps = None; Memory = None; Stack = None }

/// `count` cells of a kind, their output by role: attention maps or answer outputs.
let private cellBlock (kind: CellKind) (count: int) (pointer: torch.Tensor) (out: torch.Tensor) =
    match kind.Role with
    | Attention -> { block count pointer with Maps = Some out }
    | Answer -> { block count pointer with Memory = Some out }

let private catAlong (dim: int64) (xs: torch.Tensor list) = match xs with [ x ] -> x | _ -> torch.cat(Array.ofList xs, dim)

/// The generic cells' blocks, one per group in column order, from `FusedCells.apply`'s outputs.
let private genericBlocks (groups: CellGroup.CellGroup list) (cellPointer: CellKind -> torch.Tensor) (attention: torch.Tensor option, answer: torch.Tensor option) =
    let role (r: CellRole) (outputs: torch.Tensor option) =
        let inRole = groups |> List.filter (fun g -> g.Kind.Role = r)
        let starts = inRole |> List.scan (fun start g -> start + int64 g.Count) 0L
        match outputs with
        | Some out ->
            List.map2 (fun (g: CellGroup.CellGroup) start ->
                cellBlock g.Kind g.Count (cellPointer g.Kind) (out.narrow(1L, start, int64 g.Count))) inRole (List.take inRole.Length starts)
        | None -> []
    role Attention attention @ role Answer answer

let apply (modules: StepModules) (prepared: FusedCells.Prepared option) (inputs: StepInputs) : StepOutputs =
    let stack, pointer, memory = inputs.Hand.Stack, inputs.Hand.Pointer, inputs.Hand.Memory
    let popped = Stack.pop pointer
    let cellPointer kind = Stack.cellPointer modules.Spec.Stack kind pointer popped
    let cells =
        match inputs.Cells with
        | Some cellInputs ->
            let generic = prepared |> Option.map (fun fused -> genericBlocks modules.Groups cellPointer (FusedCells.apply fused cellInputs))
            Option.defaultValue [] generic
            @ [ for g in modules.Concats -> cellBlock g.Kind g.Count (cellPointer g.Kind) (g.Forward cellInputs) ]
        | None -> []
    let hands =
        [ for h in modules.Hands ->
              let o = h.Apply inputs.Hand
              { block 1 o.Pointer with Memory = o.Memory |> Option.map (fun m -> m.unsqueeze(1L)); Stack = Some(o.Stack.unsqueeze(1L)) } ]
    let blocks = cells @ hands @ (if modules.NoOps > 0 then [ block modules.NoOps pointer ] else [])
    let device = stack.device
    let starts = blocks |> List.scan (fun start b -> start + int64 b.Count) 0L |> List.take blocks.Length
    let columnsOf (pick: Block -> torch.Tensor option) =
        let chosen = List.zip blocks starts |> List.choose (fun (b, start) -> pick b |> Option.map (fun x -> x, [| start .. start + int64 b.Count - 1L |]))
        match chosen with
        | [] -> None
        | _ -> Some(catAlong 1L (List.map fst chosen), torch.tensor(Array.concat (List.map snd chosen), device = device))
    let weights = inputs.Weights
    let candidates = torch.stack(blocks |> List.map (fun b -> b.Pointer) |> Array.ofList, 1L) // (B, blocks, L)
    let candidateOfColumn = blocks |> List.indexed |> List.collect (fun (i, b) -> List.replicate b.Count (int64 i)) |> Array.ofList
    let weighted = weights.unsqueeze(-1L) * candidates.index_select(1L, torch.tensor(candidateOfColumn, device = device)) // (B, M, L)
    let handWeight, handTerm =
        match columnsOf (fun b -> b.Stack) with
        | Some(stacks, columns) ->
            let w = weights.index_select(1L, columns)
            w.sum(-1L), Some(torch.einsum("bk,bklhw->blhw", w, stacks))
        | None -> torch.zeros(1L, device = device), None
    // Σ w over the modules whose stack is A with maps written into it: all but the hand modules.
    let keep = weights.sum(-1L) - handWeight
    let newStack =
        match columnsOf (fun b -> b.Maps) with
        | Some(maps, columns) ->
            let q = weighted.index_select(1L, columns) // (B, k_att, L)
            stack * (keep.unsqueeze(-1L) - q.sum(1L)).unsqueeze(-1L).unsqueeze(-1L) + torch.einsum("bkl,bkhw->blhw", q, maps)
        | None -> stack * keep.reshape(-1L, 1L, 1L, 1L)
    let newMemory =
        match columnsOf (fun b -> b.Memory) with
        | Some(outs, columns) -> torch.einsum("bk,bko->bo", weights.index_select(1L, columns), outs)
        | None -> torch.zeros_like(memory)
    { Stack = (match handTerm with Some h -> newStack + h | None -> newStack)
      Pointer = Stack.sharpen (ModelSpec.pointer modules.Spec) (weighted.sum(1L))
      Memory = newMemory }
