"""Fails when two files under src/ import each other, directly or through
others (`crate::`, `super::` and `self::` paths outside comments; `mod.rs`
and `lib.rs`, which only declare and re-export, are left out)."""
import os,re,sys
root='src'
files={}
for d,_,fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'): 
            p=os.path.join(d,f)
            files[p]=open(p).read()
def modpath(p):
    rel=p[len(root)+1:-3].split('/')
    if rel[-1] in ('mod','lib'): rel=rel[:-1]
    return rel
mods={tuple(modpath(p)):p for p in files}
def resolve(cur, path):
    # path: list of segments starting with crate/super/self
    segs=path
    if segs[0]=='crate': base=[]; segs=segs[1:]
    elif segs[0]=='super':
        base=list(cur)
        while segs and segs[0]=='super': base=base[:-1]; segs=segs[1:]
    elif segs[0]=='self': base=list(cur); segs=segs[1:]
    else: return None
    full=base+segs
    # longest prefix that is a module file
    for i in range(len(full),-1,-1):
        if tuple(full[:i]) in mods: return mods[tuple(full[:i])]
    return None
edges={}
for p,src in files.items():
    src=re.sub(r'#\[cfg\(test\)\]\s*mod tests \{.*','',src,flags=re.S)
    src=re.sub(r"//[^\n]*","",src)
    cur=modpath(p)
    if p.endswith('mod.rs') or p.endswith('lib.rs'): pass
    tgt=set()
    for m in re.finditer(r'\b((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)',src):
        segs=m.group(1).split('::')
        t=resolve(cur if (p.endswith('mod.rs') or p.endswith('lib.rs')) else cur, segs) if not (segs[0] in ('super','self') and not (p.endswith('mod.rs') or p.endswith('lib.rs'))) else resolve(cur[:-0] if False else cur, segs)
        if segs[0]=='super' and not (p.endswith('mod.rs') or p.endswith('lib.rs')):
            t=resolve(cur,segs)
        if t and t!=p: tgt.add(t)
    # use foo::{...} groups inside crate::x::{a, b}
    for m in re.finditer(r'(?:crate|super)(?:::\w+)*::\{([^}]*)\}',src):
        pass
    edges[p]=tgt
# ignore edges into mod.rs files that only re-export? keep
# find cycles among non-mod files (mod.rs / lib.rs only declare)
import itertools
def sccs(g):
    index={};low={};st=[];on=set();res=[];i=[0]
    def strong(v):
        index[v]=low[v]=i[0];i[0]+=1;st.append(v);on.add(v)
        for w in g.get(v,()):
            if w not in index: strong(w);low[v]=min(low[v],low[w])
            elif w in on: low[v]=min(low[v],index[w])
        if low[v]==index[v]:
            c=[]
            while True:
                w=st.pop();on.discard(w);c.append(w)
                if w==v:break
            if len(c)>1: res.append(c)
    for v in g:
        if v not in index: strong(v)
    return res
g={p:{t for t in ts if not (t.endswith('mod.rs') or t.endswith('lib.rs'))} for p,ts in edges.items() if not (p.endswith('mod.rs') or p.endswith('lib.rs'))}
sys.setrecursionlimit(10000)
cycles = sccs(g)
for c in cycles: print('import cycle:', ' -> '.join(sorted(c)))
print('import cycles: checked', len(g), 'files,', len(cycles), 'cycles')
sys.exit(1 if cycles else 0)
