//! Graph searches over the network's nodes, lanes and the generator's grid.

/// Which vertices of a graph (`adj[v]`: the vertices an edge leads to from `v`) can be reached
/// from `start` (none when `start` is not a vertex).
pub(crate) fn reachable(adj: &[Vec<usize>], start: usize) -> Vec<bool> {
    let mut seen = vec![false; adj.len()];
    let mut stack = Vec::new();
    if start < adj.len() {
        seen[start] = true;
        stack.push(start);
    }
    while let Some(v) = stack.pop() {
        for &w in &adj[v] {
            if !seen[w] {
                seen[w] = true;
                stack.push(w);
            }
        }
    }
    seen
}
