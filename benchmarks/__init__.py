"""The results pipeline (launch -> collect -> aggregate -> render / plots -> documents) and the
side-by-side speed benchmarks. ``docs/architecture.md`` shows the modules in the order of that flow."""
import os.path as osp

#: the checkout this package belongs to (runs are launched from it, documents written into it)
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config_stem(path: str) -> str:
    """'configs/tapps/tapps_r18-toy_1xb8-1000it_synthetic.py' -> 'tapps_r18-toy_1xb8-1000it_synthetic': the
    name a config's runs, rows and metafile entries are known by."""
    return osp.splitext(osp.basename(path))[0]
