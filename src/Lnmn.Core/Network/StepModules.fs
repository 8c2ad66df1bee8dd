/// The modules a step chooses from, as both step implementations (`ReferenceStep`, `FusedStep`)
/// see them. The controller's module weights come in the order of `LnmnNetwork.concatOrder`:
/// generic cells (groups in `CellKind.all` order), concatenation cells, hand-designed modules,
/// NoOps.
module Lnmn.Core.Network.StepModules

open TorchSharp
open Lnmn.Core.Specs

type StepModules =
    { Spec: ModelSpec
      Groups: CellGroup.CellGroup list
      Concats: ConcatCells.ConcatGroup list
      Hands: HandModules.HandLayer list
      NoOps: int }

/// What one step hands to the modules: the module weights (B, M) in the order above; the cells'
/// inputs (None when there are no cells); stack, pointer, memory and the rest for hand modules.
type StepInputs =
    { Weights: torch.Tensor
      Cells: CellGroup.CellInputs option
      Hand: HandModules.HandInputs }

/// The stack (B, L, H, W), the sharpened pointer (B, L) and the memory (B, mem_dim) after a step.
type StepOutputs = { Stack: torch.Tensor; Pointer: torch.Tensor; Memory: torch.Tensor }
