// softmax(α) of every node of a checkpoint as a table, and its heat map (paper Figure 3) as HTML.
//   dotnet fsi src/Lnmn.Analysis/scripts/alpha.fsx CHECKPOINT [OUT.html]
#load "load.fsx"
open Load
open Lnmn.Analysis

let args = arguments "src/Lnmn.Analysis/scripts/alpha.fsx CHECKPOINT [OUT.html]" 1
let _, network = loadNetwork args.[0]
let readouts = AlphaReadout.read network
printfn "%s" (AlphaReadout.markdown readouts)

// E.g. only the nodes that are not yet near one-hot:
let undecided = readouts |> List.filter (fun r -> List.max r.Weights < 0.5)
printfn "\n%d of %d nodes have no op above 50%%" undecided.Length readouts.Length

if args.Length > 1 then
    System.IO.File.WriteAllText(args.[1], Plots.alphaHeatmap readouts)
    printfn "heat map: %s" args.[1]
