// What each module of a trained checkpoint computes: the argmax op of every node, composed and
// simplified (paper Table 6), in the paper's notation and in LaTeX.
//   dotnet fsi src/Lnmn.Analysis/scripts/extract.fsx runs/<run>/checkpoints/last.ckpt
#load "load.fsx"
open Load
open Lnmn.Analysis

let args = arguments "src/Lnmn.Analysis/scripts/extract.fsx CHECKPOINT" 1
let _, network = loadNetwork args.[0]
let formulas = Extraction.extract network

printfn "%s\n" (Extraction.markdown formulas)
for f in formulas do
    printfn "module %d (%s): %s" f.Module (Lnmn.Core.Specs.CellKind.name f.Kind) f.Latex
