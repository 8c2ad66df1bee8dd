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
let args = arguments usage 1
let fail (message: string) =
    eprintfn "%s" message
    exit 2
let nodeValue, positional =
    match Array.tryFindIndex ((=) "--node") args with
    | Some i when i + 1 < args.Length -> args.[i + 1], Array.append args.[.. i - 1] args.[i + 2 ..]
    | _ -> fail $"usage: dotnet fsi {usage}"
let listed =
    match nodeValue.Split('.') |> Array.map System.Int32.TryParse with
    | [| (true, m); (true, n) |] -> m, n
    | _ -> fail $"--node: {nodeValue} is not MODULE.NODE"

let outcome =
    result {
        use! loaded = Loaded.openCheckpoint positional.[0] (Array.tryItem 1 positional) Device.Cpu None
        let! source = Loaded.split loaded "val"
        let network = loaded.Network
        let layout, _ = LnmnNetwork.groupModules network.Spec.Modules
        // (module, node) -> the cell group's α and the cell's index in it.
        let nodes =
            [ for (_, indices), group in List.zip layout network.CellGroups do
                for cell, moduleIndex in List.indexed indices do
                    for node in 0 .. CellKind.nodeCount group.Kind - 1 -> (moduleIndex, node), (group.Alpha, cell, node) ]
            |> Map.ofList
        let alpha, cell, node =
            match nodes.TryFind listed with
            | Some found -> found
            | None -> fail $"--node: module {fst listed} has no node {snd listed}"
        let saved = alpha.detach().clone()
        let fix (op: int option) =
            use _ = torch.no_grad ()
            alpha.copy_(saved) |> ignore
            op |> Option.iter (fun j ->
                let row = alpha.[int64 cell, int64 node]
                row.fill_(-1e4) |> ignore
                row.[int64 j].fill_(0.0) |> ignore)
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
