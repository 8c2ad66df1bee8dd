// Which op a node could take in the discrete network: validation accuracy with every node one-hot at
// its winner (hard-max α) except the listed node, which is made one-hot at each of the six ops in
// turn; beside it, the soft network and plain hard-max. The selection the paper's argmax makes
// against the one that keeps the accuracy (DARTS-PT ranks ops by what the network loses without them).
//   dotnet fsi src/Lnmn.Analysis/scripts/node-choices.fsx CHECKPOINT [DATA_DIR] --node MODULE.NODE
#load "load.fsx"
open Load
open TorchSharp
open Lnmn.Core
open Lnmn.Core.Specs
open Lnmn.Core.Network
open Lnmn.Analysis
open Lnmn.Train

let usage = "src/Lnmn.Analysis/scripts/node-choices.fsx CHECKPOINT [DATA_DIR] --node MODULE.NODE"
let nodeValue, positional = takeOption "--node" usage (arguments usage 1)
let listed =
    match nodeValue with
    | Some text when positional.Length > 0 -> parseNode "--node" text
    | _ -> failUsage $"usage: dotnet fsi {usage}"

let outcome =
    result {
        use! loaded = Loaded.openCheckpoint positional.[0] (Array.tryItem 1 positional) Device.Cpu None
        let! source = Loaded.split loaded "val"
        let network = loaded.Network
        let alpha, cell, node =
            match (nodeAlphas network).TryFind listed with
            | Some found -> found
            | None -> failUsage $"--node: module {fst listed} has no node {snd listed}"
        let saved = alpha.detach().clone()
        let fix (op: int option) =
            use _ = torch.no_grad ()
            alpha.copy_(saved) |> ignore
            op |> Option.iter (makeOneHot alpha cell node)
        let winner = NodeOp.all.[int (saved.[int64 cell, int64 node].argmax().item<int64>())]
        let runs =
            [ "soft α", None, NodeOps.NodeEvaluation.soft
              $"hard-max (node: {NodeOp.name winner}, the argmax)", None, NodeOps.NodeEvaluation.hardMax ]
            @ [ for j, op in List.indexed NodeOp.all -> $"hard-max, node: {NodeOp.name op}", Some j, NodeOps.NodeEvaluation.hardMax ]
            |> List.map (fun (name, op, evaluation) ->
                fix op
                name, Scoring.score loaded.Device network evaluation 64 source)
        fix None
        return runs
    }

match outcome with
| Ok runs ->
    printfn "node %d.%d\n" (fst listed) (snd listed)
    printfn "%s" (Table.markdown (ScoreTables.accuracy runs))
| Error e ->
    eprintfn "%s" e
    exit 1
