/// The differentiable attention stack: L maps of H×W and a soft pointer p over the L slots.
/// Shapes: stack (…, L, H, W), pointer (…, L), map (…, H, W); leading dims broadcast.
/// Slot 0 is the bottom.
module Lnmn.Core.Network.Stack

open TorchSharp
open Lnmn.Core.Specs


let private slots (pointer: torch.Tensor) = pointer.unsqueeze(-1L).unsqueeze(-1L)

/// Σ_l p_l · A_l.
let read (stack: torch.Tensor) (pointer: torch.Tensor) : torch.Tensor = (stack * slots pointer).sum(-3L)

/// A · (1 − p) + x · p: the map goes where the pointer is.
let write (stack: torch.Tensor) (pointer: torch.Tensor) (map: torch.Tensor) : torch.Tensor =
    let p = slots pointer
    stack * Tensors.withScalar 1.0 (fun one -> one - p) + map.unsqueeze(-3L) * p

/// Pointer one place down, floored at the bottom: [p0 + p1, p2, …, p_{L−1}, 0].
let pop (pointer: torch.Tensor) : torch.Tensor =
    let length = pointer.shape.[int (pointer.dim()) - 1]
    let bottom = pointer.narrow(-1L, 0L, 2L).sum(-1L, keepdim = true)
    torch.cat([| bottom; pointer.narrow(-1L, 2L, length - 2L); torch.zeros_like(bottom) |], -1L)

/// Pointer one place up, capped at the top: [0, p0, …, p_{L−3}, p_{L−2} + p_{L−1}].
let push (pointer: torch.Tensor) : torch.Tensor =
    let length = pointer.shape.[int (pointer.dim()) - 1]
    let top = pointer.narrow(-1L, length - 2L, 2L).sum(-1L, keepdim = true)
    torch.cat([| torch.zeros_like(top); pointer.narrow(-1L, 0L, length - 2L); top |], -1L)

/// One-hot pointer at the bottom slot, (batch, L).
let bottomPointer (batch: int64) (length: int64) (device: torch.Device) =
    let p = torch.zeros([| batch; length |], device = device)
    p.index_put_(torch.tensor(1.0f, device = device), torch.TensorIndex.Colon, torch.TensorIndex.Single 0L)

/// The next pointer from the module-weighted sum of the modules' pointers (…, L). Hard: one-hot at
/// the argmax, no gradient through the pointer (as in Stack-NMN).
let sharpen (sharpening: PointerSharpening) (pointer: torch.Tensor) : torch.Tensor =
    match sharpening with
    | Soft temperature -> (Tensors.withScalar temperature (fun t -> pointer / t)).softmax(-1L)
    | Hard -> torch.nn.functional.one_hot(pointer.argmax(-1L), pointer.shape.[int (pointer.dim()) - 1]).to_type(pointer.dtype)

/// The pointer a generic cell of `kind` leaves (and, for an attention cell, writes its map at), from
/// the pointer p before the step and popped = pop p. Reference: attention cells write at p (3
/// inputs) or at popped (4 inputs). Push: they push onto p (3 inputs) or onto pop popped (4 inputs).
/// Answer cells pop what they read.
let cellPointer (discipline: StackDiscipline) (kind: CellKind) (pointer: torch.Tensor) (popped: torch.Tensor) =
    match kind.Role, kind.Arity, discipline with
    | Attention, ThreeInput, Reference -> pointer
    | Attention, ThreeInput, Push -> push pointer
    | Attention, FourInput, Reference -> popped
    | Attention, FourInput, Push -> push (pop popped)
    | Answer, ThreeInput, _ -> popped
    | Answer, FourInput, _ -> pop popped
