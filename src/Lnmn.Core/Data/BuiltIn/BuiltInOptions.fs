/// Options of the built-in CLEVR-like dataset. Every size is here; `defaults` is small enough for
/// the main job to learn on CPU within its time budget.
namespace Lnmn.Core.Data

type BuiltInOptions =
    { Seed: int
      TrainScenes: int
      ValScenes: int
      /// Questions asked about each scene (fewer when a scene admits fewer well-posed ones).
      QuestionsPerScene: int
      MinObjects: int
      MaxObjects: int
      /// Feature maps are GridSize × GridSize.
      GridSize: int
      /// What an attribute channel reads where an object covers a cell fully. The model appends 128
      /// position channels in [−1, 1] to the features; at 1.0 the few sparse attribute channels are
      /// outweighed by them and the model learns to ignore the image (issue 4).
      FeatureIntensity: float
      /// Least distance between object centres on the ground plane ([-3, 3]²).
      MinSpacing: float
      /// Put objects at grid-cell centres, so one cell holds at most one object centre and
      /// every relation can be read from the map exactly.
      SnapToGrid: bool
      /// CLEVR's relation threshold: j is right of i when x_j − x_i > threshold.
      RelationThreshold: float
      Groups: TemplateGroup list
      /// Family indices to keep (None: all families of the chosen groups).
      Families: int list option
      /// Vary wording with synonyms (thing/object, big/large, ...).
      Synonyms: bool
      /// No answer of a family may exceed this multiple of the family's mean answer count.
      BalanceTolerance: float }

module BuiltInOptions =
    let defaults =
        { Seed = 1
          TrainScenes = 50_000
          ValScenes = 500
          QuestionsPerScene = 10
          MinObjects = 3
          MaxObjects = 6
          GridSize = 4
          FeatureIntensity = 5.0
          MinSpacing = 1.0
          SnapToGrid = true
          RelationThreshold = 0.2
          Groups = TemplateGroup.all
          Families = None
          Synonyms = true
          BalanceTolerance = 1.25 }

    /// CLEVR's own scene sizes (3–10 objects) on the default grid.
    let clevrLike = { defaults with MinObjects = 3; MaxObjects = 10; GridSize = 10; MinSpacing = 0.8 }
